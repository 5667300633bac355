#!/usr/bin/env python3
"""`make harden`: fuzzing, tamper matrix, faults, load, lifecycle and sanitizers; writes
RELIABILITY.md with every figure, the command that produced it and the machine it ran on.

  python3 scripts/harden/run.py --mode short|full [--only fuzz,tamper,...]

The figures are kept in RELIABILITY.json beside the report (committed): the parts that run
replace their own entries, each recording when it ran, in which mode, at which commit, on which
kernel and under what load; the others keep their last results, and the report is rendered from
the merged whole. So `--only lifecycle` refreshes part 5 alone, and full mode's sanitizer run
(`make harden HARDEN=full ONLY=sanitizers`) adds part 6 to the figures of a short run.

Logs and working files go to .build-harden/ (not in git)."""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import MODES, ROOT, SCRATCH, StepFailed, machine  # noqa: E402
import fuzz  # noqa: E402
import load  # noqa: E402
import suites  # noqa: E402
import report  # noqa: E402

PARTS = ["fuzz", "tamper", "faults", "load", "lifecycle", "sanitizers"]


def part_record(mode):
    """When, in which mode, at which commit and under what load a part started (the machine's
    other details are the latest run's)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"date": now(), "mode": mode, "commit": commit or "unknown", "kernel": platform.release(),
            "load_average": "%.2f %.2f %.2f" % os.getloadavg()}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load_results(path):
    """The figures of the last runs, or an empty set when there are none yet."""
    if not os.path.exists(path):
        return {"parts": {}}
    with open(path) as f:
        return json.load(f)


def write_report(results, output, results_path):
    """Writes the results file, then the report from what that file holds (so a report rendered
    again from it, `--render-only`, is the same)."""
    text = json.dumps(results, indent=2, sort_keys=True) + "\n"
    with open(results_path, "w") as f:
        f.write(text)
    with open(output, "w") as f:
        f.write(report.markdown(json.loads(text)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--only", default="", help="comma-separated parts: " + ",".join(PARTS))
    parser.add_argument("--output", default=os.path.join(ROOT, "RELIABILITY.md"))
    parser.add_argument("--results", default=os.path.join(ROOT, "RELIABILITY.json"),
                        help="the figures of every part's last run, read and merged with this run's")
    parser.add_argument("--render-only", action="store_true", help="write the report again from the results file")
    args = parser.parse_args()
    results = load_results(args.results)
    if args.render_only:
        write_report(results, args.output, args.results)
        return 1 if report.failures(results) else 0
    settings = MODES[args.mode]
    chosen = [p for p in args.only.split(",") if p]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        sys.exit("harden: unknown part(s) %s; the parts are %s" % (", ".join(unknown), ", ".join(PARTS)))
    if "sanitizers" in chosen and not settings["sanitizers"]:
        sys.exit("harden: the sanitizers run in full mode only: make harden HARDEN=full ONLY=sanitizers")
    # Without --only every part of the mode runs; short mode's run keeps the sanitizers' last figures.
    parts = chosen or [p for p in PARTS if p != "sanitizers" or settings["sanitizers"]]
    os.makedirs(SCRATCH, exist_ok=True)
    log = os.path.join(SCRATCH, "harden.log")
    open(log, "w").close()
    started = time.monotonic()
    results["machine"] = machine()
    results.setdefault("parts", {})

    def attempt(name, work, record=True):
        if name not in parts:
            return
        print("harden: %s ..." % name, flush=True)
        begin = time.monotonic()
        run = part_record(args.mode)
        try:
            outcome = work()
        except (StepFailed, OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            outcome = {"error": str(error)}
            with open(log, "a") as f:
                traceback.print_exc(file=f)
        run["seconds"] = round(time.monotonic() - begin)
        if record:
            results["parts"][name] = dict(outcome, run=run)
        elif "error" in outcome:
            # The suites' parts cannot run without their build: each reports the build's failure.
            for part in ("tamper", "faults"):
                if part in parts:
                    parts.remove(part)
                    results["parts"][part] = dict(outcome, run=run)
        print("harden: %s done in %.0f s" % (name, time.monotonic() - begin), flush=True)

    attempt("fuzz", lambda: fuzz.run(settings["fuzz_seconds"], log))
    if any(p in parts for p in ("tamper", "faults")):
        parts.append("build")
        attempt("build", lambda: suites.build_tests(log) or {"ok": True}, record=False)
    attempt("tamper", lambda: suites.tamper(log))
    attempt("faults", lambda: suites.faults(log))
    attempt("load", lambda: load.run(settings["load_seconds"], settings["server_build"], log))
    attempt("lifecycle", lambda: load.lifecycle(settings["load_seconds"], settings["server_build"], log))
    attempt("sanitizers", lambda: {"address": suites.sanitizer("address", log), "thread": suites.sanitizer("thread", log)})
    results["parts"].pop("build", None)
    write_report(results, args.output, args.results)
    print("harden: wrote %s and %s in %d s" % (os.path.relpath(args.output, ROOT), os.path.relpath(args.results, ROOT),
                                              round(time.monotonic() - started)))
    return 1 if report.failures(results, only=parts) else 0


if __name__ == "__main__":
    sys.exit(main())
