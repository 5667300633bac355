"""Part 4 of `make harden`: each finding of the hardening review replayed against the release
build (the debug build in short mode) beside a healthy client; the healthy client's p99 and
errors before and during, the server's peak memory during. Part 5: certificate rotation and
SIGTERM drain under load."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import time

from common import ROOT, SCRATCH
from live import BUILDS, HealthyClient, Server, review_body, server_binary

LIVE_CLIENT = os.path.join(ROOT, "Tests", "LiveClients", "live_client.py")
# The drain's --shutdown-delay: the clients stop 1 s after /readyz fails, as endpoints would, so
# the delay leaves a stalled (busy) machine several seconds before signet stops listening.
DRAIN_DELAY = 10


def live_client(server, scenario, *arguments, certificate=None, timeout=120):
    command = [sys.executable, LIVE_CLIENT, scenario, "--port", str(server.port), "--ca", server.pki.path("ca.pem")]
    if certificate:
        command += ["--cert", server.pki.path(certificate + ".pem"), "--key", server.pki.path(certificate + ".key")]
    process = subprocess.run(command + [str(a) for a in arguments], capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(process.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (process.stderr or process.stdout)[-300:]}


def metrics_bytes(server):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.context(None), timeout=10)
    conn.request("GET", "/metrics")
    return len(conn.getresponse().read())


def unauthenticated(server, count=200):
    """Finding 4: reviews posted without a client certificate and with a certificate of a name
    not allowed; returns the statuses each got."""
    statuses = {"no certificate": {}, "certificate CN=intruder": {}}
    for label, certificate in (("no certificate", None), ("certificate CN=intruder", "intruder")):
        for _ in range(count // 2):
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.context(certificate), timeout=10)
                conn.request("POST", "/validate?timeout=10s", body=review_body(), headers={"Content-Type": "application/json"})
                status = str(conn.getresponse().status)
                conn.close()
            except (OSError, ssl.SSLError, http.client.HTTPException) as error:
                status = type(error).__name__
            statuses[label][status] = statuses[label].get(status, 0) + 1
    return statuses


def head_flood(server, count=500):
    """Finding 6: HEAD /metrics answers carry the GET's Content-Length and no body."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.context(None), timeout=10)
    lengths = set()
    for _ in range(count):
        conn.request("HEAD", "/healthz")
        response = conn.getresponse()
        response.read()
        lengths.add(response.getheader("Content-Length"))
    conn.request("GET", "/healthz")
    get = conn.getresponse()
    body = get.read()
    return {"head_requests": count, "head_content_lengths": sorted(lengths), "get_body_bytes": len(body)}


def findings(server, review_file):
    """Each finding's replay: (name, what it does, the attack)."""
    return [
        ("1 unread responses", "one connection pipelines 200,000 GET /metrics and never reads",
         lambda: live_client(server, "unread", "--method", "GET", "--path", "/metrics", "--count", 200000, "--pid", server.process.pid, "--wait", 10)),
        ("2 unfinished bodies", "60 connections each announce an 8 MiB body and send 1 byte, then one sends a whole 8 MiB body",
         lambda: live_client(server, "body-budget", "--count", 60, "--then-body-bytes", 8 * 1024 * 1024, "--body-file", review_file, certificate="client")),
        ("3 forged kinds", "2,000 reviews with made-up 1 KB kinds on one connection",
         lambda: dict(live_client(server, "forged-kinds", "--count", 2000, "--body-file", review_file, certificate="client"),
                      metrics_bytes_after=metrics_bytes(server))),
        ("4 unauthenticated reviews", "100 reviews without a client certificate, 100 with a certificate whose name is not allowed",
         lambda: unauthenticated(server)),
        ("5 one peer takes every slot", "127.0.0.1 opens 300 TLS connections and holds them",
         lambda: live_client(server, "hold", "--count", 300)),
        ("6 HEAD", "500 HEAD requests on one connection",
         lambda: head_flood(server)),
    ]


def run(seconds, build, log):
    binary = server_binary(build, log)
    server = Server(binary, os.path.join(SCRATCH, "load"))
    healthy = HealthyClient(server).start()
    review_file = os.path.join(server.work, "review.json")
    with open(review_file, "wb") as f:
        f.write(review_body())
    results = []
    try:
        metrics_before = metrics_bytes(server)
        for name, what, attack in findings(server, review_file):
            before_start = time.monotonic()
            time.sleep(seconds)
            before = healthy.window(before_start, time.monotonic())
            server.reset_peak()
            during_start = time.monotonic()
            outcome = attack()
            # The healthy client keeps going at least `seconds` under the attack's after-effects.
            remaining = seconds - (time.monotonic() - during_start)
            if remaining > 0:
                time.sleep(remaining)
            during = healthy.window(during_start, time.monotonic())
            results.append({"finding": name, "attack": what, "before": before, "during": during,
                            "peak_rss_mib": round(server.peak_rss_mib(), 1), "attack_outcome": outcome,
                            "server_alive": server.process.poll() is None})
        summary = {"metrics_bytes_before": metrics_before, "metrics_bytes_after": metrics_bytes(server)}
    finally:
        healthy.stop()
        server.stop()
    return {"build": build, "build_command": " ".join(BUILDS[build]), "server_command": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in server.command),
            "seconds_per_window": seconds, "findings": results, **summary}


def lifecycle(seconds, build, log):
    binary = server_binary(build, log)
    results = {}
    # Certificate rotation: the served files replaced by a new certificate under load.
    server = Server(binary, os.path.join(SCRATCH, "rotation"))
    clients = [HealthyClient(server, rate=40).start(), HealthyClient(server, rate=20, source="127.0.0.3").start()]
    try:
        time.sleep(seconds)
        fingerprint_before = served_fingerprint(server)
        server.pki.issue("rotated", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        rotated_at = time.monotonic()
        shutil.copy(server.pki.path("rotated.key"), server.key + ".new")
        shutil.copy(server.pki.path("rotated.pem"), server.cert + ".new")
        os.replace(server.key + ".new", server.key)
        os.replace(server.cert + ".new", server.cert)
        deadline = time.monotonic() + 30
        fingerprint_after = fingerprint_before
        while time.monotonic() < deadline and fingerprint_after == fingerprint_before:
            time.sleep(0.5)
            fingerprint_after = served_fingerprint(server)
        picked_up = round(time.monotonic() - rotated_at, 1)
        time.sleep(seconds)
        end = time.monotonic()
    finally:
        for client in clients:
            client.stop()
        server.stop()
    windows = [c.window(0, end) for c in clients]
    results["rotation"] = {"requests": sum(w["requests"] for w in windows), "failed": sum(w["errors"] for w in windows),
                           "p99_ms": max((w["p99_ms"] or 0) for w in windows), "new_certificate_served": fingerprint_after != fingerprint_before,
                           "seconds_to_serve_new_certificate": picked_up}
    # SIGTERM drain: readiness turns false, the load stops as endpoints would, in-flight requests finish.
    server = Server(binary, os.path.join(SCRATCH, "drain"),
                    extra=["--shutdown-delay", "%ds" % DRAIN_DELAY, "--shutdown-grace-period", "20s"])
    clients = [HealthyClient(server, rate=40).start(), HealthyClient(server, rate=20, source="127.0.0.3").start()]
    try:
        time.sleep(seconds)
        server.process.terminate()
        terminated_at = time.monotonic()
        not_ready = wait_not_ready(server)
        # Endpoints drop the pod once /readyz fails; the clients stop sending well inside the delay.
        time.sleep(1)
        for client in clients:
            client.stop()
        exit_status = server.process.wait(40)
        exited_after = round(time.monotonic() - terminated_at, 1)
    finally:
        for client in clients:
            client.stop()
        server.stop()
    windows = [c.window(0, time.monotonic()) for c in clients]
    results["drain"] = {"requests": sum(w["requests"] for w in windows), "failed": sum(w["errors"] for w in windows),
                        "error_kinds": sorted({k for w in windows for k in w["error_kinds"]}),
                        "readyz_not_ready_after_sigterm": not_ready, "exit_status": exit_status, "exited_after_seconds": exited_after,
                        "shutdown_delay_seconds": DRAIN_DELAY}
    results["build"] = build
    results["server_command"] = " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in server.command)
    return results


def served_fingerprint(server):
    import hashlib
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with server.context(None).wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(True)).hexdigest()


def wait_not_ready(server):
    deadline = time.monotonic() + DRAIN_DELAY
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.context(None), timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status != 200:
                return True
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False
        time.sleep(0.1)
    return False
