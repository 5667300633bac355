"""Parts 2, 3 and 6 of `make harden`: Swift test suites run with SIGNET_HARDEN_REPORT_DIR set, so
each writes its figures (tamper counts, fault outcomes) as JSON; and the whole suite under
AddressSanitizer and ThreadSanitizer, counting the sanitizers' reports."""
import glob
import json
import os
import re
import shutil
import subprocess
import time

from common import ROOT, SCRATCH, StepFailed, run_logged

# LeakSanitizer suppressions for the AddressSanitizer run: known blind spots, each explained there.
LEAK_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leak-suppressions.txt")

SUMMARY = re.compile(r"Test run with (\d+) tests? (?:in \d+ suites? )?(passed|failed)(?: after [\d.]+ seconds)?(?: with (\d+) issues?)?")


def swift_test(filter_pattern, log, extra=(), report_dir=None, scratch=None, timeout=None, environment=None):
    """Runs `swift test --skip-build --filter` and returns its exit status and Swift Testing's summary."""
    env = dict(os.environ)
    env.update(environment or {})
    if report_dir:
        shutil.rmtree(report_dir, ignore_errors=True)
        os.makedirs(report_dir)
        env["SIGNET_HARDEN_REPORT_DIR"] = report_dir
    command = ["swift", "test", "--skip-build"] + list(extra)
    if scratch:
        command += ["--scratch-path", scratch]
    if filter_pattern:
        command += ["--filter", filter_pattern]
    begin = time.monotonic()
    with open(log, "a") as f:
        f.write("$ %s\n" % " ".join(command))
        f.flush()
        process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", timeout=timeout)
        f.write(process.stdout)
    summary = SUMMARY.findall(process.stdout)
    tests, outcome, issues = summary[-1] if summary else ("0", "not run", "0")
    return {
        "command": " ".join(c for c in command if c != "--skip-build"), "exit_status": process.returncode,
        "tests": int(tests), "outcome": outcome, "issues": int(issues or 0), "seconds": round(time.monotonic() - begin),
        "output": process.stdout,
    }


def records(report_dir, part):
    found = []
    for path in sorted(glob.glob(os.path.join(report_dir, part + "-*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return found


def build_tests(log):
    run_logged(["swift", "build", "--build-tests"], log)


TAMPER_FILTER = "TamperMatrixTests"


def tamper(log):
    report_dir = os.path.join(SCRATCH, "reports", "tamper")
    result = swift_test(TAMPER_FILTER, log, report_dir=report_dir)
    result.pop("output")
    result["matrices"] = records(report_dir, "tamper")
    return result


FAULT_FILTER = "RegistryFaultServeTests|NotaryFaultServeTests|RegistryMisbehaviourTests|APIServerFaultTests"


def faults(log):
    report_dir = os.path.join(SCRATCH, "reports", "faults")
    result = swift_test(FAULT_FILTER, log, report_dir=report_dir)
    output = result.pop("output")
    result["outcomes"] = records(report_dir, "faults")
    # The registry client's own fault tests (retries, Retry-After, oversized, slow, wrong digest).
    result["client_tests"] = sorted(set(re.findall(r"Test (\w+)\(\) passed", output)))
    result["failed_tests"] = sorted(set(re.findall(r"Test (\w+)\(\) (?:failed|recorded an issue)", output)))
    return result


def report_sites(output, marker, most=10):
    """Where each report points: the first frame of its first stack (`file:line` in the source),
    with the function demangled, so the report says which code a finding is about."""
    sites = []
    for match in re.finditer(marker + r".*?\n(?:.*\n)*?\s+#0 (\S+) (\S+)", output):
        symbol, place = match.group(1), match.group(2)
        demangled = subprocess.run(["swift", "demangle", "--simplified", "--compact", symbol], capture_output=True, text=True).stdout.strip()
        sites.append("%s (%s)" % (os.path.relpath(place, ROOT) if place.startswith("/") else place, demangled or symbol))
        if len(sites) == most:
            break
    return sites


def sanitizer(name, log):
    """Builds and runs the whole Swift test suite under `--sanitize=name` in .build-<name>."""
    scratch = os.path.join(ROOT, ".build-" + {"address": "asan", "thread": "tsan"}[name])
    begin = time.monotonic()
    run_logged(["swift", "build", "--build-tests", "--sanitize=" + name, "--scratch-path", scratch], log)
    build_seconds = round(time.monotonic() - begin)
    # Every sanitized process writes its reports to files here: the test runner and the
    # `signet` processes the tests start, which are the sanitized build's own binary
    # (SIGNET_BINARY), so the server, the CLI and the scanner run under the sanitizer too.
    reports = os.path.join(ROOT, ".build-harden", "sanitizer-" + name)
    shutil.rmtree(reports, ignore_errors=True)
    os.makedirs(reports)
    options = {"address": "ASAN_OPTIONS", "thread": "TSAN_OPTIONS"}[name]
    environment = {
        "SIGNET_BINARY": os.path.join(scratch, "debug", "signet"),
        options: ":".join(o for o in (os.environ.get(options, ""), "log_path=" + os.path.join(reports, "report")) if o),
    }
    if name == "address":
        # LeakSanitizer's known blind spots, each explained in the file.
        environment["LSAN_OPTIONS"] = ":".join(o for o in (os.environ.get("LSAN_OPTIONS", ""), "suppressions=" + LEAK_SUPPRESSIONS) if o)
    # The suite is Swift Testing alone: the XCTest runner would run no test, and its process
    # exits holding its (empty) suite tree, which LeakSanitizer reported as leaked.
    result = swift_test(None, log, extra=["--sanitize=" + name, "--disable-xctest"], scratch=scratch, environment=environment)
    output = result.pop("output")
    result["processes_reporting"] = 0
    result["suppressed_leaks"] = 0
    for entry in sorted(os.listdir(reports)):
        with open(os.path.join(reports, entry), errors="replace") as f:
            report = f.read()
        # A process whose only output is LeakSanitizer's "Suppressions used" table reported nothing.
        if re.search(r"ERROR: |WARNING: ThreadSanitizer", report):
            result["processes_reporting"] += 1
        result["suppressed_leaks"] += sum(int(count) for count in re.findall(r"^\s+(\d+)\s+\d+\s+\S+$", report, re.M))
        output += "\n" + report
        with open(log, "a") as f:
            f.write("\n--- %s ---\n%s" % (entry, report))
    marker = {"address": r"ERROR: AddressSanitizer", "thread": r"WARNING: ThreadSanitizer"}[name]
    result["reports"] = len(re.findall(marker, output))
    result["report_kinds"] = sorted(set(re.findall(marker + r":? ([\w-]+(?: [\w-]+)?)", output)))[:10]
    result["report_sites"] = report_sites(output, marker)
    result["failed_tests"] = sorted(set(re.findall(r"✘ Test (?!run with)(.+?) failed after", output)))[:20]
    # LeakSanitizer (part of AddressSanitizer) reports at a process's exit: counted apart, with
    # its summary lines, as leaks are not memory-safety errors but still make the run fail.
    result["leak_reports"] = len(re.findall(r"ERROR: LeakSanitizer", output))
    result["leak_summaries"] = re.findall(r"SUMMARY: AddressSanitizer: (\d+ byte\(s\) leaked in \d+ allocation\(s\))", output)[:10]
    result["build_seconds"] = build_seconds
    result["build_command"] = "swift build --build-tests --sanitize=%s --scratch-path %s" % (name, os.path.relpath(scratch, ROOT))
    return result
