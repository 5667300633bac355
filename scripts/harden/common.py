"""Shared paths and helpers of `make harden` (scripts/harden/run.py)."""
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRATCH = os.path.join(ROOT, ".build-harden")

# Short mode is what CI runs after `make test`: the server under load is the debug build that
# `make test` made (no second full build), the fuzzers and load windows are brief.
MODES = {
    "short": {"fuzz_seconds": 15, "load_seconds": 6, "sanitizers": False, "server_build": "debug"},
    "full": {"fuzz_seconds": 300, "load_seconds": 20, "sanitizers": True, "server_build": "release"},
}


class StepFailed(Exception):
    """A build or command a part needs failed; the part is reported as not run, with the log."""


def run_logged(command, log, cwd=ROOT, env=None, timeout=None):
    """Runs `command`, appending its output to `log`; raises StepFailed when it fails."""
    with open(log, "a") as f:
        f.write("$ %s\n" % " ".join(command))
        f.flush()
        process = subprocess.run(command, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    if process.returncode != 0:
        raise StepFailed("%s exited with %d (see %s)" % (" ".join(command[:4]), process.returncode, os.path.relpath(log, ROOT)))


def machine():
    """The machine the figures were measured on."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            memory = "%.1f GiB" % (int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": memory, "kernel": platform.release(),
        "os": platform.platform(), "swift": swift[0] if swift else "unknown",
        "load_average": "%.2f %.2f %.2f" % os.getloadavg(),
    }
