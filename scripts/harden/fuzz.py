"""Part 1 of `make harden`: builds Fuzz/ with libFuzzer and AddressSanitizer and runs each target
for a fixed time from its seed corpus (Fuzz/Corpus/<target>, read only); new inputs go to a
working corpus under the scratch path. A crash leaves its input in the artifacts folder."""
import os
import re
import shutil
import subprocess
import time

from common import ROOT, SCRATCH, run_logged

FUZZ_SCRATCH = os.path.join(ROOT, ".build-fuzz")
# --sanitize=fuzzer links libFuzzer's main in place of the executable's; -sanitize=fuzzer,address
# as one flag, after it, instruments every Swift module for coverage and AddressSanitizer (the
# two as separate -sanitize flags lose the coverage).
BUILD = ["swift", "build", "--package-path", "Fuzz", "--scratch-path", ".build-fuzz", "--sanitize=fuzzer",
         "-Xswiftc", "-sanitize=fuzzer,address", "-Xswiftc", "-parse-as-library"]
TARGETS = ["http", "admission", "certificate", "imageReference", "sigstore", "tuf", "notation", "notary", "intoto"]


def binary():
    path = subprocess.run(BUILD + ["--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(path, "signet-fuzz")


def run(seconds_per_target, log):
    started = time.monotonic()
    run_logged(BUILD, log, cwd=ROOT)
    build_seconds = time.monotonic() - started
    fuzzer = binary()
    results = []
    for target in TARGETS:
        work = os.path.join(SCRATCH, "fuzz", target)
        corpus = os.path.join(work, "corpus")
        artifacts = os.path.join(work, "artifacts") + "/"
        shutil.rmtree(artifacts, ignore_errors=True)
        os.makedirs(corpus, exist_ok=True)
        os.makedirs(artifacts, exist_ok=True)
        seeds = os.path.join(ROOT, "Fuzz", "Corpus", target)
        command = [fuzzer, "-max_total_time=%d" % seconds_per_target, "-timeout=20", "-rss_limit_mb=2048",
                   "-max_len=65536", "-print_final_stats=1", "-artifact_prefix=" + artifacts, corpus, seeds]
        # Swift's backtracer would stall a crash under ASan; libFuzzer prints its own report.
        env = dict(os.environ, SIGNET_FUZZ_TARGET=target, ASAN_OPTIONS="detect_leaks=0", SWIFT_BACKTRACE="enable=no")
        begin = time.monotonic()
        process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, errors="replace")
        output = process.stderr + process.stdout
        with open(log, "a") as f:
            f.write("$ SIGNET_FUZZ_TARGET=%s %s\n%s\n" % (target, " ".join(command), output[-20000:]))
        executions = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
        coverage = re.findall(r"cov: (\d+)", output)
        crashes = sorted(os.listdir(artifacts))
        results.append({
            "target": target, "seconds": round(time.monotonic() - begin, 1),
            "executions": int(executions.group(1)) if executions else 0,
            "coverage": int(coverage[-1]) if coverage else 0,
            "seeds": len(os.listdir(seeds)), "corpus": len(os.listdir(corpus)),
            "exit_status": process.returncode, "crashes": len(crashes) if crashes or process.returncode == 0 else 1,
            "artifacts": [os.path.join(artifacts, c) for c in crashes],
            "command": "SIGNET_FUZZ_TARGET=%s .build-fuzz/debug/signet-fuzz -max_total_time=%d Fuzz/Corpus/%s"
                       % (target, seconds_per_target, target),
        })
    return {"build_seconds": round(build_seconds), "build_command": " ".join(BUILD), "targets": results}
