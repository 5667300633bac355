#!/usr/bin/env python3
"""`make harden`: fuzzing, tamper matrix, faults, load, lifecycle and sanitizers; writes
RELIABILITY.md with every figure, the command that produced it and the machine it ran on.

  python3 scripts/harden/run.py --mode short|full [--only fuzz,tamper,...]

Logs and working files go to .build-harden/ (not in git)."""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, SCRATCH, StepFailed, machine  # noqa: E402
import fuzz  # noqa: E402
import load  # noqa: E402
import suites  # noqa: E402
import report  # noqa: E402

# Short mode is what CI runs after `make test`: the server under load is the debug build that
# `make test` made (no second full build), the fuzzers and load windows are brief.
MODES = {
    "short": {"fuzz_seconds": 15, "load_seconds": 6, "sanitizers": False, "server_build": "debug"},
    "full": {"fuzz_seconds": 300, "load_seconds": 20, "sanitizers": True, "server_build": "release"},
}
PARTS = ["fuzz", "tamper", "faults", "load", "lifecycle", "sanitizers"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--only", default="", help="comma-separated parts: " + ",".join(PARTS))
    parser.add_argument("--output", default=os.path.join(ROOT, "RELIABILITY.md"))
    parser.add_argument("--render-only", action="store_true", help="write the report again from .build-harden/results.json")
    args = parser.parse_args()
    if args.render_only:
        with open(os.path.join(SCRATCH, "results.json")) as f:
            results = json.load(f)
        with open(args.output, "w") as f:
            f.write(report.markdown(results, MODES[results["mode"]]))
        return 1 if report.failures(results) else 0
    settings = MODES[args.mode]
    parts = [p for p in args.only.split(",") if p] or PARTS
    os.makedirs(SCRATCH, exist_ok=True)
    log = os.path.join(SCRATCH, "harden.log")
    open(log, "w").close()
    started = time.monotonic()
    results = {"mode": args.mode, "machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": "make harden" + ("" if args.mode == "short" else " HARDEN=full"), "parts": {}}

    def attempt(name, work):
        if name not in parts:
            return
        print("harden: %s ..." % name, flush=True)
        begin = time.monotonic()
        try:
            results["parts"][name] = work()
        except (StepFailed, OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            results["parts"][name] = {"error": str(error)}
            with open(log, "a") as f:
                traceback.print_exc(file=f)
        print("harden: %s done in %.0f s" % (name, time.monotonic() - begin), flush=True)

    attempt("fuzz", lambda: fuzz.run(settings["fuzz_seconds"], log))
    if any(p in parts for p in ("tamper", "faults")):
        attempt("build", lambda: suites.build_tests(log) or {"ok": True})
    attempt("tamper", lambda: suites.tamper(log))
    attempt("faults", lambda: suites.faults(log))
    attempt("load", lambda: load.run(settings["load_seconds"], settings["server_build"], log))
    attempt("lifecycle", lambda: load.lifecycle(settings["load_seconds"], settings["server_build"], log))
    if settings["sanitizers"]:
        attempt("sanitizers", lambda: {"address": suites.sanitizer("address", log), "thread": suites.sanitizer("thread", log)})
    results["seconds"] = round(time.monotonic() - started)
    with open(os.path.join(SCRATCH, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(args.output, "w") as f:
        f.write(report.markdown(results, settings))
    print("harden: wrote %s in %d s" % (os.path.relpath(args.output, ROOT), results["seconds"]))
    return 1 if report.failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
