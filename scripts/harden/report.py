"""RELIABILITY.md from the results of `make harden` (scripts/harden/run.py)."""
import json

from common import MODES


def failures(results, only=None):
    """What makes `make harden` fail: a crash, a false allow, a fault allowed, a sanitizer report, a part that broke.
    With `only`, the failures of those parts alone (a run answers for what it measured; the
    figures other parts keep from their last run are reported, not judged again)."""
    found = []
    parts = {name: part for name, part in results["parts"].items() if only is None or name in only}
    for name, part in parts.items():
        if "error" in part:
            found.append("%s: %s" % (name, part["error"]))
    for target in parts.get("fuzz", {}).get("targets", []):
        if target["crashes"]:
            found.append("fuzz %s: %d crash(es)" % (target["target"], target["crashes"]))
    tamper = parts.get("tamper", {})
    if tamper and "error" not in tamper:
        if tamper["exit_status"] != 0:
            found.append("tamper: swift test failed")
        found += ["tamper %s/%s: %d false allow(s)" % (m["matrix"], m["artifact"], len(m["falseAllows"]))
                  for m in tamper["matrices"] if m["falseAllows"]]
    faults = parts.get("faults", {})
    if faults and "error" not in faults:
        if faults["exit_status"] != 0:
            found.append("faults: swift test failed")
        found += ["fault %s allowed" % o["name"] for o in faults["outcomes"] if o.get("allowed")]
    for f in parts.get("load", {}).get("findings", []):
        if f["during"]["errors"] or not f["server_alive"]:
            found.append("load %s: %d healthy errors, server alive %s" % (f["finding"], f["during"]["errors"], f["server_alive"]))
    for event in ("rotation", "drain"):
        if parts.get("lifecycle", {}).get(event, {}).get("failed"):
            found.append("lifecycle %s: %d failed requests" % (event, parts["lifecycle"][event]["failed"]))
    for name in ("address", "thread"):
        run = parts.get("sanitizers", {}).get(name, {})
        if "error" in run:
            found.append("%s sanitizer: %s" % (name, run["error"]))
        elif run.get("reports"):
            found.append("%s sanitizer: %d report(s)" % (name, run["reports"]))
        if run.get("leak_reports"):
            found.append("%s sanitizer: LeakSanitizer reported leaks in %d process(es)" % (name, run["leak_reports"]))
        if run.get("outcome") == "failed":
            found.append("%s sanitizer: %s" % (name, ", ".join(run.get("failed_tests") or ["the suite"]) + " failed"))
    return found


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def not_run(part, why):
    return "Not run: %s.\n" % (part.get("error") if part and "error" in part else why)


def loaded(results, part):
    """A warning when the machine was busy while `part` ran: latencies and peak memory are then rough."""
    m = results["machine"]
    load_average = part.get("run", {}).get("load_average", "")
    try:
        busy = float(load_average.split()[0]) > (m["cores"] or 1)
    except (ValueError, IndexError, KeyError):
        return ""
    if not busy:
        return ""
    return (" The machine was loaded (load average %s on %s cores when this part started; other builds ran beside it), so latencies "
            "and peak memory are rough: compare a replay's before and during, not figures across runs." % (load_average, m["cores"]))


PART_TITLES = [("fuzz", "1. Fuzzing"), ("tamper", "2. Tamper matrix"), ("faults", "3. Faults"), ("load", "4. Load"),
               ("lifecycle", "5. Lifecycle"), ("sanitizers", "6. Sanitizers")]


def runs_table(results):
    """When each part last ran: the parts run alone (`ONLY=`) and keep their figures between runs."""
    m = results["machine"]
    rows = []
    for name, title in PART_TITLES:
        run = results["parts"].get(name, {}).get("run")
        if run:
            rows.append((title, run["date"], run["mode"], run["commit"], run["kernel"], run["load_average"],
                         "not recorded" if run.get("seconds") is None else run["seconds"]))
    if not rows:
        return ""
    return ("Each part keeps the figures of its last run (`RELIABILITY.json`) until it runs again, alone "
            "(`make harden ONLY=load,lifecycle`) or with the others. When each ran, in which mode, at which commit, on which "
            "kernel and under what load (the load average over 1, 5 and 15 minutes; on this %s-core machine anything above %s "
            "means processes were waiting for a core, and every time measured in that part is inflated by the wait):\n\n"
            % (m["cores"], m["cores"]) + table(["part", "ran", "mode", "commit", "kernel", "load average", "seconds"], rows))


def markdown(results):
    m = results["machine"]
    parts = results["parts"]
    out = ["# Reliability\n",
           "Written by `make harden` (`scripts/harden/run.py`) from `RELIABILITY.json`. Do not edit: run it again.\n",
           "**Machine:** %s, %s cores, %s memory, %s, %s.\n" % (m["cpu"], m["cores"], m["memory"], m["os"], m["swift"]),
           runs_table(results),
           "Short mode (`make harden`) fuzzes each target %d s, replays the load %d s per window against the debug build "
           "and skips the sanitizers; full mode (`make harden HARDEN=full`) fuzzes %d s per target, uses the release build "
           "and runs the whole test suite under AddressSanitizer and ThreadSanitizer.\n"
           % (MODES["short"]["fuzz_seconds"], MODES["short"]["load_seconds"], MODES["full"]["fuzz_seconds"]),
           ]
    problems = failures(results)
    out.append("**Outcome:** %s\n" % ("every check passed." if not problems else "FAILED: " + "; ".join(problems)))

    out.append("## 1. Fuzzing (libFuzzer, `-sanitize=fuzzer,address`)\n")
    fz = parts.get("fuzz")
    if fz and "error" not in fz:
        out.append("Built with `%s` (%d s). Targets are in `Fuzz/Sources/signet-fuzz/FuzzTarget.swift`; seeds in "
                   "`Fuzz/Corpus/<target>/` (from `Tests/Vectors`, written by `scripts/harden/seed_fuzz_corpora.py`); "
                   "inputs found during a run stay in `.build-harden/fuzz/<target>/corpus`.\n" % (fz["build_command"], fz["build_seconds"]))
        out.append(table(["target", "seconds", "executions", "coverage (edges)", "seeds", "corpus after", "crashes", "command"],
                         [(t["target"], t["seconds"], t["executions"], t["coverage"], t["seeds"], t["corpus"], t["crashes"], "`%s`" % t["command"])
                          for t in fz["targets"]]))
        out.append("Total: %d executions, %d crashes.\n" % (sum(t["executions"] for t in fz["targets"]), sum(t["crashes"] for t in fz["targets"])))
    else:
        out.append(not_run(fz, "no run of this part is recorded yet (`make harden ONLY=fuzz`)"))

    out.append("## 2. Tamper matrix\n")
    tm = parts.get("tamper")
    if tm and "error" not in tm:
        out.append("Single-point mutations (`Tests/SignetTestSupport/TamperMutations.swift`: each string value changed in its "
                   "middle, base64 values with one bit flipped, numbers +1, booleans negated, each member removed, the first two "
                   "elements of each list swapped; byte flips for COSE) of valid artifacts, each run through the real verifier. "
                   "Command: `SIGNET_HARDEN_REPORT_DIR=... %s` (%d tests, %s).\n" % (tm["command"], tm["tests"], tm["outcome"]))
        rows = [(x["matrix"], x["artifact"], x["mutations"], x["denied"], len(x["falseAllows"])) for x in tm["matrices"]]
        out.append(table(["matrix", "artifact", "mutations", "denied", "false allows"], rows))
        out.append("Total: %d mutations, %d denied, %d false allows.\n"
                   % (sum(r[2] for r in rows), sum(r[3] for r in rows), sum(r[4] for r in rows)))
        left_out = {}
        for x in tm["matrices"]:
            for path, reason in sorted(x.get("unsigned", {}).items()):
                left_out.setdefault((x["matrix"], path, reason), []).append(x["artifact"])
        if left_out:
            out.append("Left out, as no signature covers them and no decision reads them (the suites list each with its reason):\n")
            out += ["- %s `%s` (%s): %s" % (matrix, path, ", ".join(artifacts), reason) for (matrix, path, reason), artifacts in sorted(left_out.items())]
            out.append("")
    else:
        out.append(not_run(tm, "no run of this part is recorded yet (`make harden ONLY=tamper`)"))

    out.append("## 3. Faults\n")
    ft = parts.get("faults")
    if ft and "error" not in ft:
        out.append("`signet serve` in front of failing peers; each review is sent with `?timeout=3s` (the API server's "
                   "deadline) under an Enforce policy. Command: `SIGNET_HARDEN_REPORT_DIR=... %s` (%d tests, %s).\n"
                   % (ft["command"], ft["tests"], ft["outcome"]))
        out.append(table(["peer", "fault", "HTTP", "decision", "answered after (s)", "reason"],
                         [(o["peer"], o["fault"], o["httpStatus"], "allowed" if o["allowed"] else "denied", "%.2f" % o["seconds"],
                           o["reason"].replace("|", "\\|")[:300]) for o in ft["outcomes"]]))
        if ft.get("client_tests"):
            out.append("Registry client fault tests that passed in the same run: %s.\n" % ", ".join("`%s`" % t for t in ft["client_tests"]))
        if ft.get("failed_tests"):
            out.append("Failed: %s.\n" % ", ".join(ft["failed_tests"]))
    else:
        out.append(not_run(ft, "no run of this part is recorded yet (`make harden ONLY=faults`)"))

    out.append("## 4. Load: the review's findings replayed\n")
    ld = parts.get("load")
    if ld and "error" not in ld:
        out.append("%s build (`%s`) started as `%s`. A healthy client (the API "
                   "server's stand-in: client certificate CN=kube-apiserver, from 127.0.0.2, keep-alive) posts a review 40 times a "
                   "second throughout; each finding is replayed by `Tests/LiveClients/live_client.py` (or `scripts/harden/load.py`) "
                   "and the healthy client's requests in the %d s before and the time during it are compared. Peak memory is the "
                   "server's VmHWM, reset before each replay.%s\n"
                   % (ld.get("build", "release").capitalize(), ld["build_command"], ld["server_command"], ld["seconds_per_window"], loaded(results, ld)))
        rows = []
        for f in ld["findings"]:
            b, d = f["before"], f["during"]
            rows.append((f["finding"], f["attack"], "%s / %s" % (b["p99_ms"], d["p99_ms"]), "%d of %d / %d of %d" % (b["errors"], b["requests"], d["errors"], d["requests"]),
                         f["peak_rss_mib"], "yes" if f["server_alive"] else "NO", "`%s`" % json.dumps(f["attack_outcome"])[:240].replace("|", "\\|")))
        out.append(table(["finding", "replay", "healthy p99 ms before / during", "healthy errors before / during", "peak MiB", "server alive", "attack outcome"], rows))
        out.append("`/metrics` was %d bytes before the replays and %d after.\n" % (ld["metrics_bytes_before"], ld["metrics_bytes_after"]))
    else:
        out.append(not_run(ld, "no run of this part is recorded yet (`make harden ONLY=load`)"))

    out.append("## 5. Lifecycle\n")
    lc = parts.get("lifecycle")
    if lc and "error" not in lc:
        r, d = lc["rotation"], lc["drain"]
        out.append("Two healthy clients (40 and 20 reviews a second, keep-alive, from 127.0.0.2 and 127.0.0.3) against the %s build.%s\n"
                   % (lc.get("build", "release"), loaded(results, lc)))
        out.append(table(["event", "requests", "failed", "details"], [
            ("certificate rotation (tls.crt and tls.key replaced by a new certificate)", r["requests"], r["failed"],
             "new certificate served: %s, %s s after the files changed; p99 %s ms" % (r["new_certificate_served"], r["seconds_to_serve_new_certificate"], r["p99_ms"])),
            ("SIGTERM with `--shutdown-delay %ds` (clients stop 1 s after /readyz fails, as endpoints would)" % d.get("shutdown_delay_seconds", 3),
             d["requests"], d["failed"],
             "/readyz not ready after SIGTERM: %s; exit status %s after %s s; errors: %s" % (d["readyz_not_ready_after_sigterm"], d["exit_status"], d["exited_after_seconds"], ", ".join(d["error_kinds"]) or "none")),
        ]))
        out.append("Server: `%s`.\n" % lc["server_command"])
    else:
        out.append(not_run(lc, "no run of this part is recorded yet (`make harden ONLY=lifecycle`)"))

    out.append("## 6. Sanitizers\n")
    sz = parts.get("sanitizers")
    if sz and "error" not in sz:
        rows = []
        for name in ("address", "thread"):
            run = sz.get(name, {})
            if "error" in run:
                rows.append((name, "-", "-", "-", run["error"]))
                continue
            rows.append((name, run["tests"], run["outcome"], run["reports"], "`%s` (%d s), then `%s` (%d s)"
                         % (run["build_command"], run["build_seconds"], run["command"], run["seconds"])))
        out.append(table(["sanitizer", "tests", "outcome", "reports", "commands"], rows))
        if any("processes_reporting" in sz.get(name, {}) for name in ("address", "thread")):
            out.append("The tests that start `signet` (serve, review, verify, scan) start the sanitized build's own binary "
                       "(`SIGNET_BINARY`), and every sanitized process, the test runner and each `signet` it started, writes "
                       "its reports to a file that is counted here (address: %s process(es) reported, thread: %s).\n"
                       % (sz.get("address", {}).get("processes_reporting", "-"), sz.get("thread", {}).get("processes_reporting", "-")))
        for name in ("address", "thread"):
            run = sz.get(name, {})
            if run.get("report_sites"):
                out.append("%s reports point at: %s.\n" % (name.capitalize(), "; ".join("`%s`" % site for site in run["report_sites"])))
            if run.get("suppressed_leaks"):
                out.append("LeakSanitizer left out %d allocation(s) matching `scripts/harden/leak-suppressions.txt`: memory still "
                           "in use at exit that LeakSanitizer cannot see referenced, because Swift keeps the pointer to it with bits "
                           "set (a weak-reference side table; an array whose pointer carries an enum's case tag), each shown and "
                           "explained in that file.\n" % run["suppressed_leaks"])
            if run.get("leak_reports"):
                out.append("LeakSanitizer reported leaks at the exit of %d test process(es): %s.\n"
                           % (run["leak_reports"], "; ".join(run.get("leak_summaries", []))))
            if run.get("failed_tests"):
                out.append("Tests that failed under the %s sanitizer: %s.\n" % (name, ", ".join("`%s`" % t for t in run["failed_tests"])))
    else:
        out.append(not_run(sz, "no run of this part is recorded yet: short mode runs no sanitizers (a sanitized build of the suite takes tens of minutes on 2 cores); `make harden HARDEN=full ONLY=sanitizers` runs them"))
    return "\n".join(out)

