"""Instructions per warm review, counted by callgrind (valgrind): a figure that does not depend on
the machine, its load or its scheduler, so two commits can be compared on any day, and a change
of a few percent shows where CPU time cannot show it. User space only (the kernel's work is not
counted), every thread of `signet serve`.

Two reviews: the throughput part's (a `static` authority) and the verdicts part's (three cached
`key` verdicts). For each, 100 reviews on one keep-alive TLS connection to warm up, the counters
zeroed (`callgrind_control -z`), 300 reviews counted, the counters written out
(`callgrind_control -d`). The split by stage is the inclusive count of the function that does
each stage, so the stages overlap where one calls another (the review's decision includes the
verdict cache). valgrind cannot read the debug information of a Swift binary, so it runs a copy
without it (`objcopy --strip-debug`; the symbols stay)."""
import glob
import os
import re
import shutil
import subprocess
import time

import run
import verdicts_bench

WARMUP = 100
COUNTED = 300

# (stage, demangled function name as callgrind_annotate shows it, after `swift demangle --simplified`)
STAGES = [
    ("TLS: decrypt the request (OpenSSL)", "SSL_read_ex"),
    ("HTTP/1.1 request parsing", "HTTPRequestParser.step()"),
    ("AdmissionReview: JSON syntax check (and its end index)", "JSONDocument.init(validating:"),
    ("AdmissionReview: reading the fields used", "AdmissionReviewReader.review(_:at:)"),
    ("policy decision (images, policies, authorities)", "PolicyEvaluator.begin(_:subject:)"),
    ("… of which cached signature verdicts", "VerificationEngine.cachedVerdict(image:authority:policy:)"),
    ("audit record (one JSON line)", "AdmissionResponder.recordAudit("),
    ("AdmissionReview response JSON", "AdmissionReview.responseJSON("),
    ("HTTP response head", "HTTPResponseEncoder.encode("),
    ("TLS: encrypt the response (OpenSSL)", "TLSEngine.writePlaintext(_:)"),
]


def available():
    return all(shutil.which(tool) for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "objcopy"))


def count(binary, ws, name, body, policy_dir=None, extra=()):
    """Instructions per review and per stage for `body`, from one `signet serve` under callgrind."""
    out = os.path.join(ws.dir, f"callgrind-{name}")
    wrapper = os.path.join(ws.dir, f"under-valgrind-{name}.sh")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out}.%p --dump-instr=no {binary} "$@"\n')
    os.chmod(wrapper, 0o755)
    for stale in glob.glob(out + ".*"):
        os.remove(stale)
    # Under valgrind the server starts 20 to 60 times slower.
    signet = run.Signet(wrapper, ws, policy_dir=policy_dir, extra=extra, listen_timeout=180)
    try:
        connection = signet.connection()
        connection.timeout = 120
        payload = open(body, "rb").read()
        for _ in range(WARMUP):
            run.Signet.request(connection, "POST", "/validate?timeout=10s", payload)
        pid = str(signet.process.pid)
        subprocess.run(["callgrind_control", "-z", pid], capture_output=True, timeout=120, check=True)
        for _ in range(COUNTED):
            run.Signet.request(connection, "POST", "/validate?timeout=10s", payload)
        subprocess.run(["callgrind_control", "-d", pid], capture_output=True, timeout=120, check=True)
        deadline = time.monotonic() + 60
        dumps = []
        while time.monotonic() < deadline and not dumps:
            dumps = sorted(glob.glob(f"{out}.{pid}.*"))
            time.sleep(0.5)
        if not dumps:
            raise RuntimeError(f"instructions: callgrind wrote no dump for {name}")
        connection.close()
    finally:
        signet.stop()
    dump = dumps[0]
    total = next(int(line.split()[1]) for line in open(dump) if line.startswith(("summary:", "totals:")))
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump],
                               capture_output=True, text=True, timeout=300).stdout
    if shutil.which("swift"):
        annotated = subprocess.run(["swift", "demangle", "--simplified"], input=annotated, capture_output=True,
                                   text=True, timeout=300).stdout
    stages = {}
    for stage, function in STAGES:
        for line in annotated.splitlines():
            match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+[^\s:]*:(?:specialized )?(?:static )?(.*) \[", line)
            if match and match.group(2).startswith(function):
                stages[stage] = int(match.group(1).replace(",", "")) / COUNTED
                break
    return {"per_review": total / COUNTED, "stages": stages}


def measure(binary, ws, results, registry):
    if not available():
        results.setdefault("sections", []).append({"title": "Instructions per warm review (callgrind)", "lines": [
            "Not measured: valgrind (callgrind_control, callgrind_annotate) or objcopy is not installed."]})
        return
    stripped = os.path.join(ws.dir, "signet-without-debug-info")
    subprocess.run(["objcopy", "--strip-debug", binary, stripped], check=True, timeout=300)
    rows = {"static": count(stripped, ws, "static", ws.body)}
    policy_dir, body, extra = verdicts_bench.signed_review(ws, registry, name="instructions")
    rows["verdicts"] = count(stripped, ws, "verdicts", body, policy_dir=policy_dir, extra=extra)
    results["instructions"] = rows
    run.log("instructions per review: " + ", ".join(f"{name} {row['per_review']:,.0f}" for name, row in rows.items()))
    lines = [
        f"Measured {run.now()}. `signet serve` under valgrind's callgrind, user space only, every thread: {WARMUP} reviews "
        f"on one keep-alive TLS connection to warm up, then {COUNTED} counted. The figure does not move with the "
        "machine's load or speed, so it compares two commits where CPU time cannot; it leaves out the kernel's work "
        "(system calls, TCP, scheduling: a third of signet's CPU time in the profile part). Stages are the inclusive "
        "count of the function doing each, per review; a stage inside another is marked `…`. Callgrind counts a "
        "string instruction (`rep stos`, `rep movs`: how glibc's memset and memcpy fill and copy a few kilobytes) "
        "once per byte it repeats, where a CPU takes 16 to 64 bytes a cycle: the JSON syntax check's figure holds "
        "about 15,000 for clearing its end index (2 bytes per byte of the request), a fraction of a microsecond of "
        "CPU.", "",
        "| per review | throughput part's review (`static` authority) | verdicts part's review (3 cached `key` verdicts) |",
        "|---|---|---|",
        f"| instructions, all | {rows['static']['per_review']:,.0f} | {rows['verdicts']['per_review']:,.0f} |"]
    for stage, _ in STAGES:
        values = [rows[name]["stages"].get(stage) for name in ("static", "verdicts")]
        if any(v is not None for v in values):
            lines.append(f"| {stage} | " + " | ".join("—" if v is None else f"{v:,.0f}" for v in values) + " |")
    lines += ["", "Rerun one part alone with `make bench ONLY=instructions`; it takes about a minute."]
    results.setdefault("sections", []).append({"title": "Instructions per warm review (callgrind)", "lines": lines})
