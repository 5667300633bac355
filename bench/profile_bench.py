"""Where a warm review's cost goes, beside nginx answering the same request: `perf stat` (CPU
time, context switches, page faults), `strace -c` (system calls by name) and `perf record`
(samples of the CPU, grouped by what the code does) while wrk sends the throughput part's
review at 16 connections. Every figure is per request, so it does not depend on how fast the
machine is that day; `strace` slows both servers down a great deal, but not the number of calls
each request makes.

The groups are read off the symbol each sample lands in (Swift symbols demangled with
`swift demangle`), first rule that matches: kernel, TLS (libssl, libcrypto), HTTP parsing,
HTTP response, the event loop and connection state, reading the AdmissionReview, writing its
response, the policy decision and verdict cache, metrics, logging, Swift reference counting,
memory allocation, Swift concurrency, libc, and the rest of the Swift runtime and standard
library. Generic standard-library code specialised into a signet module counts as that module's.

signet is measured a second time with one event loop (`SIGNET_EVENT_LOOPS=1`) instead of its
default two, to show what sharing objects between the loops costs: the JSON syntax check touches
nothing another loop touches, so the ratio of reference-counting samples to its samples is what
a retain or release costs in units of the same work, with one loop and with two."""
import os
import re
import shutil
import signal
import subprocess
import time

import run

CONNECTIONS = 16
SECONDS = 5

# (group, dso pattern or None, symbol pattern or None): the first match names a sample's group.
GROUPS = [
    ("kernel: system calls, TCP, scheduling", r"\[kernel", None),
    ("TLS (OpenSSL: record encryption, MAC)", r"libssl|libcrypto", None),
    ("HTTP/1.1 request parsing", None, r"SignetHTTP\.(HTTPRequestParser|HTTPRequest\b|HTTPHeaders|HTTPSyntax)"),
    ("HTTP response encoding", None, r"SignetHTTP\.(HTTPResponseEncoder|HTTPResponse\b)"),
    ("event loop, connection state, TLS glue", None, r"SignetHTTP\."),
    ("AdmissionReview JSON reading", None, r"SignetAdmission\.(LazyJSON|JSONDocument|AdmissionReviewReader|WorkloadImages|WorkloadObject|PodObjectReferences)|decodeRequest"),
    ("AdmissionReview response writing", None, r"SignetAdmission\.(JSONWriter|AdmissionReview\.responseJSON)|responseJSON"),
    ("decision: policy, verdict cache, audit", None, r"Signet(Policy|Verify|Admission|Crypto)\."),
    ("metrics", None, r"Metrics|Prometheus|Histogram|Counter"),
    ("logging", None, r"Logging\.|Logger"),
    ("Swift reference counting", r"libswiftCore|signet", r"swift_(retain|release|bridgeObjectRetain|bridgeObjectRelease|unknownObject)|swift_.*[Rr]etain|swift_.*[Rr]elease"),
    ("memory allocation (malloc, free)", None, r"^(malloc|free|cfree|calloc|realloc|_int_malloc|_int_free|malloc_consolidate|tcache|__libc_malloc|__libc_free|swift_allocObject|swift_deallocObject|swift_slowAlloc|swift_slowDealloc)"),
    ("Swift concurrency (tasks, executors, locks)", r"libswift_Concurrency|libswiftSynchronization", r"swift_task|swift_job|Executor|Mutex|pthread_mutex|__lll_lock|futex"),
    ("libc (copies, string functions, other)", r"libc\.so|libc-", None),
    ("Swift runtime and standard library", r"libswift|libFoundation|libdispatch|signet", None),
]
OTHER = "other"


def perf_available():
    return shutil.which("perf") and shutil.which("strace")


def threads(pids):
    found = []
    for pid in pids:
        try:
            found += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return found


def around_wrk(command, server, ws, settle):
    """Starts `command` (a tool attached to the server's processes), runs wrk, then stops the tool
    with SIGINT; returns wrk's figures and the tool's standard error."""
    tool = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    time.sleep(settle)  # attached before the first request
    try:
        data = run.run_wrk(server.port, ws, CONNECTIONS)
    finally:
        tool.send_signal(signal.SIGINT)
        try:
            _, err = tool.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            tool.kill()
            _, err = tool.communicate()
    return data, err


def switch_counts(pids):
    """Voluntary (the thread waited) and involuntary (the scheduler preempted it) context
    switches of every thread of `pids` so far, from /proc/PID/task/TID/status (proc(5))."""
    voluntary = involuntary = 0
    for task in threads(pids):
        try:
            voluntary += run.rss_kib(task, "voluntary_ctxt_switches") or 0
            involuntary += run.rss_kib(task, "nonvoluntary_ctxt_switches") or 0
        except OSError:  # the thread ended in between
            continue
    return voluntary, involuntary


def perf_stat(server, ws):
    pids = ",".join(str(p) for p in server.pids())
    switches_before = switch_counts(server.pids())
    data, err = around_wrk(["perf", "stat", "-x", ",", "-e", "task-clock,context-switches,cpu-migrations,page-faults",
                            "-p", pids], server, ws, settle=2)
    switches_after = switch_counts(server.pids())
    counters = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2] in ("task-clock", "context-switches", "cpu-migrations", "page-faults"):
            try:
                counters[fields[2]] = float(fields[0])
            except ValueError:
                pass
    requests = max(1, data["requests"])
    return {"requests": data["requests"], "rps": data["rps"],
            "cpu_us_per_request": counters.get("task-clock", 0) * 1000 / requests,
            "context_switches_per_request": counters.get("context-switches", 0) / requests,
            "voluntary_switches_per_request": (switches_after[0] - switches_before[0]) / requests,
            "involuntary_switches_per_request": (switches_after[1] - switches_before[1]) / requests,
            "cores_busy": counters.get("task-clock", 0) / 1000 / (data["duration_us"] / 1e6),
            "page_faults_per_request": counters.get("page-faults", 0) / requests}


def client_stat(server, ws, scratch):
    """wrk's own CPU time and context switches per request against `server` (`perf stat` around
    the wrk process): the client shares the 2 cores, so what it spends per request bounds the
    throughput as much as what the server spends."""
    output = os.path.join(scratch, "client-stat.csv")
    # The server's CPU time in the same run, from /proc (nothing attached to it): the pair's sum
    # is then of one run, undisturbed by a tool on the server.
    before = run.cpu_seconds(server.pids())
    data = run.run_wrk(server.port, ws, CONNECTIONS, prefix=(
        "perf", "stat", "-x", ",", "-o", output, "-e", "task-clock,context-switches", "--"))
    server_cpu = run.cpu_seconds(server.pids()) - before
    counters = {}
    with open(output) as f:
        for line in f:
            fields = line.split(",")
            if len(fields) >= 3 and fields[2] in ("task-clock", "context-switches"):
                try:
                    counters[fields[2]] = float(fields[0])
                except ValueError:
                    pass
    requests = max(1, data["requests"])
    figures = {"rps": data["rps"], "cpu_us_per_request": counters.get("task-clock", 0) * 1000 / requests,
               "context_switches_per_request": counters.get("context-switches", 0) / requests,
               "server_cpu_us_per_request": server_cpu * 1e6 / requests}
    # And its system calls per request (`strace -f -c` slows it, not the calls a request makes).
    traced = os.path.join(scratch, "client-strace.txt")
    data = run.run_wrk(server.port, ws, CONNECTIONS, prefix=("strace", "-f", "-c", "-q", "-o", traced, "--"))
    with open(traced) as f:
        calls = {m.group(2): int(m.group(1)) for m in map(STRACE_ROW.match, f) if m and m.group(2) != "total"}
    figures["syscalls_per_request"] = sum(calls.values()) / max(1, data["requests"])
    return figures


STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def strace_counts(server, ws):
    command = ["strace", "-c", "-q"]
    for tid in threads(server.pids()):
        command += ["-p", str(tid)]
    data, err = around_wrk(command, server, ws, settle=2)
    calls = {}
    for line in err.splitlines():
        m = STRACE_ROW.match(line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1))
    requests = max(1, data["requests"])
    per_request = {name: count / requests for name, count in calls.items()}
    return {"requests_while_traced": data["requests"], "syscalls_per_request": sum(per_request.values()),
            "by_call": dict(sorted(per_request.items(), key=lambda item: -item[1])[:8])}


REPORT_ROW = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*?)\s*$")


def demangle(symbols, simplified):
    """Swift symbols as source names: in full (module-qualified, for grouping) or simplified (to show)."""
    swift = shutil.which("swift")
    if not swift or not symbols:
        return {s: s for s in symbols}
    command = [swift, "demangle"] + (["--simplified"] if simplified else [])
    out = subprocess.run(command, input="\n".join(symbols), capture_output=True, text=True, errors="replace").stdout
    lines = out.splitlines()
    return dict(zip(symbols, lines)) if len(lines) == len(symbols) else {s: s for s in symbols}


def group_of(dso, kind, symbol):
    if kind == "k":
        return GROUPS[0][0]
    for name, dso_pattern, symbol_pattern in GROUPS[1:]:
        if dso_pattern and not re.search(dso_pattern, dso):
            continue
        if symbol_pattern and not re.search(symbol_pattern, symbol):
            continue
        return name
    return OTHER


def perf_profile(server, ws, scratch):
    output = os.path.join(scratch, "perf.data")
    pids = ",".join(str(p) for p in server.pids())
    # Two seconds to attach before wrk starts: a slow attach on a busy machine caught nothing.
    around_wrk(["perf", "record", "-q", "-F", "1999", "-e", "cpu-clock", "-p", pids, "-o", output], server, ws, settle=2)
    report = subprocess.run(["perf", "report", "-i", output, "--stdio", "--no-children", "--sort", "dso,sym",
                             "--percent-limit", "0.01"], capture_output=True, text=True, errors="replace").stdout
    rows = [m.groups() for m in map(REPORT_ROW.match, report.splitlines()) if m]
    symbols = sorted({symbol for _, _, _, symbol in rows})
    names, short = demangle(symbols, simplified=False), demangle(symbols, simplified=True)
    groups, top, syntax_check = {}, [], 0.0
    for percent, dso, kind, symbol in rows:
        group = group_of(dso, kind, names.get(symbol, symbol))
        groups[group] = groups.get(group, 0) + float(percent)
        # `SignetAdmission.JSONDocument.(Validator in _…).skipDocument…`: a private type.
        if re.search(r"JSONDocument\.\(?Validator", names.get(symbol, symbol)):
            syntax_check += float(percent)
        top.append({"percent": float(percent), "dso": dso, "symbol": short.get(symbol, symbol)[:140], "group": group})
    return {"groups": dict(sorted(groups.items(), key=lambda item: -item[1])),
            "top": sorted(top, key=lambda item: -item["percent"])[:15], "syntax_check": syntax_check}


def measure(binary, ws, results):
    if not perf_available():
        run.log("profile: perf or strace missing; part skipped")
        return
    scratch = os.path.join(ws.dir, "profile")
    os.makedirs(scratch, exist_ok=True)
    signet = run.Signet(binary, ws)
    response = signet.post("/validate?timeout=10s", open(ws.body, "rb").read())
    nginx = run.Nginx(ws, response)
    figures = {}
    try:
        for name, server in (("signet", signet), ("nginx", nginx)):
            run.run_wrk(server.port, ws, CONNECTIONS)  # warm both before anything is counted
            figures[name] = {"stat": perf_stat(server, ws), "client": client_stat(server, ws, scratch),
                             "strace": strace_counts(server, ws), "profile": perf_profile(server, ws, scratch)}
            run.log(f"profile {name}: {figures[name]['stat']['cpu_us_per_request']:.1f} µs CPU, "
                    f"{figures[name]['strace']['syscalls_per_request']:.2f} system calls, "
                    f"{figures[name]['stat']['context_switches_per_request']:.3f} context switches per request")
    finally:
        nginx.stop()
        signet.stop()
    one_loop = run.Signet(binary, ws, env={**os.environ, "SIGNET_EVENT_LOOPS": "1"})
    try:
        one_loop.post("/validate?timeout=10s", open(ws.body, "rb").read())
        run.run_wrk(one_loop.port, ws, CONNECTIONS)
        figures["signet_one_loop"] = {"stat": perf_stat(one_loop, ws), "profile": perf_profile(one_loop, ws, scratch)}
        run.log(f"profile signet, one event loop: {figures['signet_one_loop']['stat']['cpu_us_per_request']:.1f} µs CPU")
    finally:
        one_loop.stop()
    results["profile"] = figures
    results.setdefault("sections", []).append({"title": "Where the time goes (warm review, 16 connections)",
                                               "lines": section_lines(figures)})


def pair(figures):
    """Server and client CPU time per request, both from the client's run."""
    return figures["client"]["server_cpu_us_per_request"] + figures["client"]["cpu_us_per_request"]


def section_lines(figures):
    s, n = figures["signet"], figures["nginx"]
    lines = [f"`perf stat`, `strace -c` and `perf record -e cpu-clock` attached to each server while wrk sends "
             f"the throughput part's review at {CONNECTIONS} connections for {run.DURATION} s; every figure is per "
             "request answered (`strace` slows a server down, not the number of calls a request makes).", "",
             "| per request | signet | nginx | signet / nginx |", "|---|---|---|---|"]

    def row(label, a, b, digits):
        ratio = f"{a / b:.1f}×" if b else "n/a"
        lines.append(f"| {label} | {a:,.{digits}f} | {b:,.{digits}f} | {ratio} |")
    row("CPU time (µs, user + system)", s["stat"]["cpu_us_per_request"], n["stat"]["cpu_us_per_request"], 1)
    row("system calls", s["strace"]["syscalls_per_request"], n["strace"]["syscalls_per_request"], 2)
    row("context switches", s["stat"]["context_switches_per_request"], n["stat"]["context_switches_per_request"], 3)
    if "involuntary_switches_per_request" in s["stat"] and "involuntary_switches_per_request" in n["stat"]:
        row("… of which voluntary (the thread waited)", s["stat"]["voluntary_switches_per_request"],
            n["stat"]["voluntary_switches_per_request"], 3)
        row("… of which involuntary (the scheduler preempted it)", s["stat"]["involuntary_switches_per_request"],
            n["stat"]["involuntary_switches_per_request"], 3)
        row("cores busy (CPU time per second)", s["stat"]["cores_busy"], n["stat"]["cores_busy"], 2)
    row("page faults", s["stat"]["page_faults_per_request"], n["stat"]["page_faults_per_request"], 3)
    if "client" in s and "client" in n:
        row("the client's (wrk's) CPU time (µs)", s["client"]["cpu_us_per_request"], n["client"]["cpu_us_per_request"], 1)
        row("the client's context switches", s["client"]["context_switches_per_request"],
            n["client"]["context_switches_per_request"], 3)
        row("server CPU time in that run, nothing attached (µs)", s["client"]["server_cpu_us_per_request"],
            n["client"]["server_cpu_us_per_request"], 1)
        row("server and client together in that run (µs)", pair(s), pair(n), 1)
    if "involuntary_switches_per_request" in s["stat"]:
        lines += ["", "Context switches are counted twice: by `perf stat` over the whole attach (its settle time "
                  "included), and per thread from /proc before and after the wrk run. wrk and the two servers' "
                  "threads share 2 cores. The likely reason for the difference in involuntary switches: a server "
                  "thread that uses more than its fair share of a core runs ahead of the others in the scheduler's "
                  "reckoning (EEVDF), so a wrk thread its answer wakes preempts it on the spot, and one that uses "
                  "less is preempted far less often (see the cores busy). If so, the preemptions are a kernel cost "
                  "of the CPU a request takes, and fall with it."]
    if "client" in s and "client" in n:
        both, both_nginx = pair(s), pair(n)
        lines += ["", "The client pays too: wrk runs on the same 2 cores, and the same request and answer cost it "
                  f"{s['client']['cpu_us_per_request']:.1f} µs against signet and {n['client']['cpu_us_per_request']:.1f} µs "
                  f"against nginx, with {s['client']['syscalls_per_request']:.2f} and "
                  f"{n['client']['syscalls_per_request']:.2f} system calls per request (`strace -f -c` on wrk): "
                  "the difference is the same preemptions seen from its side. With both on 2 cores, throughput is "
                  "at most 2 s of CPU over the two together (measured in the client's run, nothing attached to the "
                  f"server): {both:.1f} µs per request for signet and its client, {both_nginx:.1f} µs for nginx and "
                  f"its client, so 70% of nginx's throughput needs the pair at {both_nginx / 0.7:.1f} µs or less, "
                  f"{both - both_nginx / 0.7:.1f} µs less than now."]
    lines += ["", "System calls per request, the most frequent of each server:", "",
              "| signet | nginx |", "|---|---|"]
    signet_calls = list(s["strace"]["by_call"].items())
    nginx_calls = list(n["strace"]["by_call"].items())
    for i in range(max(len(signet_calls), len(nginx_calls))):
        left = f"{signet_calls[i][0]} {signet_calls[i][1]:.2f}" if i < len(signet_calls) else ""
        right = f"{nginx_calls[i][0]} {nginx_calls[i][1]:.2f}" if i < len(nginx_calls) else ""
        lines.append(f"| {left} | {right} |")
    lines += ["", "What the CPU time is made of (share of `perf record` samples in each server; each group's µs "
              "is its share of that server's CPU time per request):", "",
              "| group | signet | signet µs | nginx | nginx µs |", "|---|---|---|---|---|"]
    groups = list(dict.fromkeys(list(s["profile"]["groups"]) + list(n["profile"]["groups"])))
    for group in groups:
        a, b = s["profile"]["groups"].get(group, 0), n["profile"]["groups"].get(group, 0)
        lines.append(f"| {group} | {a:.1f}% | {a / 100 * s['stat']['cpu_us_per_request']:.1f} "
                     f"| {b:.1f}% | {b / 100 * n['stat']['cpu_us_per_request']:.1f} |")
    lines += ["", "signet's 15 hottest symbols (self time):", "", "| share | where | symbol | group |", "|---|---|---|---|"]
    for entry in s["profile"]["top"]:
        symbol = entry["symbol"].replace("|", "\\|")
        lines.append(f"| {entry['percent']:.1f}% | {entry['dso']} | `{symbol}` | {entry['group']} |")
    if "signet_one_loop" in figures:
        lines += one_loop_lines(s, figures["signet_one_loop"])
    return lines


def one_loop_lines(two, one):
    """What the second event loop costs: the same figures of signet with one loop and with two."""
    counting, kernel = "Swift reference counting", GROUPS[0][0]
    lines = ["", "What the second event loop costs: signet again with one event loop (`SIGNET_EVENT_LOOPS=1`), "
             "the same review and wrk. The JSON syntax check touches nothing the other loop touches, so "
             "reference-counting samples per syntax-check sample is what a retain or release costs in units of "
             "the same work:", "", "| per request | one event loop | two (the default) |", "|---|---|---|"]

    def row(label, key, digits):
        lines.append(f"| {label} | {one['stat'][key]:,.{digits}f} | {two['stat'][key]:,.{digits}f} |")
    row("throughput while attached (requests/s)", "rps", 0)
    row("CPU time (µs, user + system)", "cpu_us_per_request", 1)
    row("involuntary context switches", "involuntary_switches_per_request", 3)
    for group in (counting, kernel):
        a, b = one["profile"]["groups"].get(group, 0), two["profile"]["groups"].get(group, 0)
        lines.append(f"| {group} | {a:.1f}% ({a / 100 * one['stat']['cpu_us_per_request']:.1f} µs) "
                     f"| {b:.1f}% ({b / 100 * two['stat']['cpu_us_per_request']:.1f} µs) |")

    def per_check(figures):
        check = figures["profile"].get("syntax_check", 0)
        return figures["profile"]["groups"].get(counting, 0) / check if check else 0

    def user(figures):
        return figures["stat"]["cpu_us_per_request"] * (1 - figures["profile"]["groups"].get(kernel, 0) / 100)
    lines.append(f"| user space (µs) | {user(one):.1f} | {user(two):.1f} |")
    lines.append(f"| reference counting per JSON syntax check sample | {per_check(one):.2f} | {per_check(two):.2f} |")
    extra = two["stat"]["cpu_us_per_request"] - one["stat"]["cpu_us_per_request"]
    lines += ["", f"The second loop adds {extra:.1f} µs of CPU per request ({user(two) - user(one):.1f} µs of it in user "
              "space), and the preemptions seen above come with it."]
    if per_check(one) and per_check(two) > 1.3 * per_check(one):
        lines[-1] += (" Reference counting costs more per unit of the same work with two loops: a retain or release of an "
                      "object both loops touch (the policy set, the parsed-image table and its entries, metrics) moves "
                      "the object's cache line between the cores.")
    else:
        lines[-1] += (" Reference counting costs about the same per unit of the same work with one loop and with two, so "
                      "objects both loops touch are not where it goes in this run. The likelier cost is the preemptions: a "
                      "preempted loop resumes with its caches "
                      "refilled by wrk's thread, which slows all of its code alike.")
    return lines
