#!/usr/bin/env python3
"""`make bench`: how fast signet is, beside a baseline that shows the limit of this machine.

Everything runs on 127.0.0.1: the release build of `signet serve`, Debian's nginx answering the
same request with a fixed response of the same size over TLS with the same kind of certificate,
and wrk (with a Lua script that POSTs a ~10 KB AdmissionReview of a 3-container Deployment).
Each figure is the median of repeated runs, with the spread (min..max). The figures and the
machine's description go to bench/RESULTS.md and bench/results.json.
"""
import datetime
import http.client
import importlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
# Seven runs per figure: with three, one slow nginx run (other load on a shared machine) moved the
# ratio by several points; the machine's speed also drifts over minutes, which the paired ratios
# (each signet run against the nginx run beside it) cancel.
REPEATS = int(os.environ.get("SIGNET_BENCH_REPEATS", "7"))
DURATION = int(os.environ.get("SIGNET_BENCH_SECONDS", "5"))
CONCURRENCY = [int(c) for c in os.environ.get("SIGNET_BENCH_CONCURRENCY", "1,16,64").split(",")]
THREADS = 2


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def log(message):
    print(f"bench: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def stop_process(process, stop_signal=signal.SIGTERM, wait=10):
    """Asks `process` to stop; kills it if it has not within `wait` seconds."""
    process.send_signal(stop_signal)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def cpu_seconds(pids):
    """User plus system CPU time of the processes, from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def children(pid):
    """The processes whose parent is `pid` (nginx's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def rss_kib(pid, field="VmRSS"):
    """Resident memory of the process in KiB; `field="VmHWM"` is its peak since it started. Any
    other numeric field of /proc/PID/status (a thread's ID is a PID there too) reads the same way."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


class Workspace:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="signet-bench-")
        self.cert = os.path.join(self.dir, "tls.crt")
        self.key = os.path.join(self.dir, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
        self.policies = os.path.join(self.dir, "policies")
        os.makedirs(self.policies)
        with open(os.path.join(self.policies, "bench.yaml"), "w") as f:
            f.write("""apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: bench-static
spec:
  images:
    - glob: "ghcr.io/signet-bench/**"
  authorities:
    - name: allow
      static:
        action: pass
""")
        self.body = os.path.join(self.dir, "review.json")
        with open(self.body, "w") as f:
            json.dump(deployment_review(), f)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def container_spec(name, image):
    """A container as a Deployment's template or a Pod names it, with the fields real ones carry."""
    return {
        "name": name, "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
        "env": [{"name": f"{name.upper()}_SETTING_{i}", "value": f"value-{i}-" + "x" * 40} for i in range(12)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
    }


def pod_template(app, containers):
    return {"metadata": {"labels": {"app": app, "tier": "frontend"},
                         "annotations": {"example.com/owner": f"team-{app}", "example.com/runbook": f"https://runbooks.example.com/{app}/" + "r" * 60}},
            "spec": {"serviceAccountName": app, "containers": containers,
                     "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}]}}


def admission_review(uid, group, kind, resource, name, namespace, username, obj):
    """A CREATE AdmissionReview of `obj` as the API server sends it."""
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid,
                        "kind": {"group": group, "version": "v1", "kind": kind},
                        "resource": {"group": group, "version": "v1", "resource": resource},
                        "name": name, "namespace": namespace, "operation": "CREATE",
                        "userInfo": {"username": username,
                                     "groups": ["system:serviceaccounts", "system:authenticated"]},
                        "object": obj, "oldObject": None, "dryRun": False,
                        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def deployment_review(images=None):
    """An AdmissionReview of a 3-container Deployment as the API server sends it, about 10 KB."""
    names = ("web", "sidecar", "metrics")
    images = images or [f"ghcr.io/signet-bench/{name}:1.4.2" for name in names]
    template = pod_template("shop", [container_spec(name, image) for name, image in zip(names, images)])
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "shop", "namespace": "shop", "labels": {"app": "shop"},
                               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}" + " " * 1500}},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shop"}}, "template": template}}
    return admission_review("b2c5f6e0-0c1d-4d7e-9a8b-000000000001", "apps", "Deployment", "deployments", "shop", "shop",
                            "system:serviceaccount:argocd:argocd-application-controller", deployment)


class Signet:
    def __init__(self, binary, ws, extra=(), policy_dir=None, env=None, listen_timeout=30):
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "serve", "--address", "127.0.0.1", "--port", str(self.port), "--tls-cert", ws.cert,
             "--tls-key", ws.key, "--policy-dir", policy_dir or ws.policies, "--log-level", "error",
             # The bench's one client address stands for the API server, which opens
             # connections as fast as its reviews need them (the churn part opens thousands a second).
             "--max-new-connections-per-peer", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_until_listening(self.port, timeout=listen_timeout)
        self.context = ssl.create_default_context(cafile=ws.cert)

    def get(self, path):
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", context=self.context, timeout=10) as r:
            return r.read()

    def post(self, path, body):
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=30) as r:
            return r.read()

    def metrics(self):
        return self.get("/metrics").decode()

    def connection(self):
        """A keep-alive HTTPS connection to the server, for requests timed without a handshake."""
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)

    @staticmethod
    def request(connection, method, path, body=None):
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return data

    def pids(self):
        return [self.process.pid]

    def stop(self):
        stop_process(self.process, wait=30)


class Nginx:
    """Debian's nginx: TLS with the same certificate, keep-alive, a fixed response of the same size.

    `reuseport` gives each worker its own listening socket, so the kernel spreads connections
    over both workers as signet's round robin spreads them over its event loops. Without it, 16
    connections sometimes all went to one worker and nginx ran at two thirds of its speed,
    which flattered signet's share.

    With `tls=False`, plain HTTP answering every request with `status` and `response`: the memory
    part's registry that holds no signature of anything."""

    def __init__(self, ws, response, status=200, tls=True):
        self.port = free_port()
        self.dir = os.path.join(ws.dir, "nginx" if tls else f"nginx-{status}")
        os.makedirs(self.dir, exist_ok=True)
        text = response.decode().replace("\\", "\\\\").replace("'", "\\'")
        assert "$" not in text
        tls_lines = (f"listen 127.0.0.1:{self.port} ssl reuseport;\n        ssl_certificate {ws.cert};\n"
                     f"        ssl_certificate_key {ws.key};\n        ssl_protocols TLSv1.2 TLSv1.3;" if tls
                     else f"listen 127.0.0.1:{self.port} reuseport;")
        config = f"""
worker_processes {os.cpu_count()};
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    client_max_body_size 16m;
    client_body_buffer_size 64k;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    server {{
        {tls_lines}
        location / {{
            default_type application/json;
            return {status} '{text}';
        }}
    }}
}}
"""
        self.config = os.path.join(self.dir, "nginx.conf")
        with open(self.config, "w") as f:
            f.write(config)
        self.process = subprocess.Popen(["nginx", "-c", self.config, "-p", self.dir, "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_listening(self.port)

    def pids(self):
        return [self.process.pid] + children(self.process.pid)

    def stop(self):
        stop_process(self.process, signal.SIGQUIT)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{extra_headers}
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON{{\\"requests\\":%d,\\"duration_us\\":%d,\\"errors\\":%d,\\"non2xx\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"p999_us\\":%d}}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


def wrk(port, ws, connections, close_each=False, server=None, body=None):
    """One wrk run; with `server`, also the server's CPU time per request (user + system)."""
    before = cpu_seconds(server.pids()) if server else None
    data = run_wrk(port, ws, connections, close_each, body=body)
    if server:
        data["cpu_us_per_request"] = (cpu_seconds(server.pids()) - before) * 1e6 / max(1, data["requests"])
    return data


def alternating_runs(signet, nginx, ws, connections, body=None):
    """REPEATS wrk runs of each server at `connections`, alternating (which goes first
    alternates too, so neither always runs right after the other); {"signet": [...], "nginx": [...]}."""
    runs = {"signet": [], "nginx": []}
    for repeat in range(REPEATS):
        pair = (("signet", signet), ("nginx", nginx)) if repeat % 2 == 0 else (("nginx", nginx), ("signet", signet))
        for name, server in pair:
            runs[name].append(wrk(server.port, ws, connections, server=server, body=body))
    return runs


def paired_ratio(runs):
    """The ratio of each signet run to the nginx run beside it: a machine that gets slower or
    faster between runs moves both runs of a pair alike."""
    return spread([s["rps"] / n["rps"] for s, n in zip(runs["signet"], runs["nginx"]) if n["rps"]])


def run_wrk(port, ws, connections, close_each=False, duration=DURATION, body=None, prefix=()):
    """One wrk run; `prefix` is a command wrk runs under (`perf stat ... --`)."""
    script = os.path.join(ws.dir, ("close" if close_each else "post") + (f"-{os.path.basename(body)}" if body else "") + ".lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT.format(body=body or ws.body, extra_headers='wrk.headers["Connection"] = "close"' if close_each else ""))
    out = subprocess.run([*prefix, "wrk", "-t", str(min(THREADS, connections)), "-c", str(connections), "-d", f"{duration}s",
                          "-s", script, f"https://127.0.0.1:{port}/validate?timeout=10s"],
                         capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"WRKJSON(\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk failed: {out.stdout} {out.stderr}")
    data = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def histogram_buckets(metrics, name):
    """Cumulative (upper bound, count) pairs of a Prometheus histogram without labels."""
    buckets = []
    for line in metrics.splitlines():
        m = re.match(name + r'_bucket\{.*le="([^"]+)".*\} ([0-9.e+]+)', line)
        if m:
            bound = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets.append((bound, float(m.group(2))))
    return sorted(buckets)


def histogram_quantiles(metrics, name, since=None):
    """p50/p99/p99.9 read off a Prometheus histogram, as what can honestly be said: the upper
    bound of the bucket the quantile falls in (the server's buckets are 50 µs wide up to 1 ms).
    With `since` (buckets from an earlier scrape), only the observations made in between."""
    buckets = histogram_buckets(metrics, name)
    if since:
        earlier = dict(since)
        buckets = [(bound, count - earlier.get(bound, 0)) for bound, count in buckets]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]

    def q(p):
        for bound, count in buckets:
            if count >= p * total:
                return bound
        return float("inf")
    return {"count": int(total), "p50_le_seconds": q(0.5), "p99_le_seconds": q(0.99), "p999_le_seconds": q(0.999)}


def fmt_bound(seconds):
    """A bucket bound in ms: `≤ 0.15 ms`, or `> 10000 ms` past the last bucket."""
    return "> 10,000 ms" if seconds == float("inf") else f"≤ {seconds * 1000:g} ms"


def measure_throughput(binary, ws, results):
    signet = Signet(binary, ws)
    response = signet.post("/validate?timeout=10s", open(ws.body, "rb").read())
    nginx = Nginx(ws, response)
    results["request_bytes"] = os.path.getsize(ws.body)
    results["response_bytes"] = len(response)
    rss_idle = rss_kib(signet.process.pid)
    table = {}
    decision = "signet_admission_decision_duration_seconds"
    for connections in CONCURRENCY:
        before = histogram_buckets(signet.metrics(), decision)
        runs = alternating_runs(signet, nginx, ws, connections)
        row = {}
        for name in runs:
            errors = sum(r["errors"] + r["non2xx"] for r in runs[name])
            row[name] = {"rps": spread([r["rps"] for r in runs[name]]),
                         "p50_ms": spread([r["p50_us"] / 1000 for r in runs[name]]),
                         "p99_ms": spread([r["p99_us"] / 1000 for r in runs[name]]),
                         "p999_ms": spread([r["p999_us"] / 1000 for r in runs[name]]),
                         "cpu_us_per_request": spread([r["cpu_us_per_request"] for r in runs[name]]),
                         "errors": errors}
        row["ratio_spread"] = paired_ratio(runs)
        row["ratio"] = row["ratio_spread"]["median"]
        row["ratio_of_medians"] = row["signet"]["rps"]["median"] / row["nginx"]["rps"]["median"]
        row["decision_time"] = histogram_quantiles(signet.metrics(), decision, since=before)
        table[str(connections)] = row
        log(f"{connections} connections: signet {row['signet']['rps']['median']:.0f} req/s "
            f"({row['signet']['cpu_us_per_request']['median']:.0f} µs CPU each), "
            f"nginx {row['nginx']['rps']['median']:.0f} req/s "
            f"({row['nginx']['cpu_us_per_request']['median']:.0f} µs CPU each) ({row['ratio']:.0%})")
    results["warm"] = table
    results["decision_time"] = histogram_quantiles(signet.metrics(), decision)
    # Merged, not replaced: the registry part adds its cache figures to the same table, and a
    # run of this part alone keeps them.
    results.setdefault("memory", {}).update({"idle_rss_mib": round(rss_idle / 1024, 1),
                                             "after_load_rss_mib": round(rss_kib(signet.process.pid) / 1024, 1)})

    churn = {"signet": [], "nginx": []}
    for repeat in range(REPEATS):
        pair = (("signet", signet), ("nginx", nginx)) if repeat % 2 == 0 else (("nginx", nginx), ("signet", signet))
        for name, server in pair:
            churn[name].append(wrk(server.port, ws, 16, close_each=True)["rps"])
    results["churn"] = {"signet_connections_per_s": spread(churn["signet"]),
                        "nginx_connections_per_s": spread(churn["nginx"])}
    results["churn"]["ratio"] = statistics.median([s / n for s, n in zip(churn["signet"], churn["nginx"]) if n])
    log(f"connection churn: signet {results['churn']['signet_connections_per_s']['median']:.0f}/s, "
        f"nginx {results['churn']['nginx_connections_per_s']['median']:.0f}/s")
    nginx.stop()
    signet.stop()


def fmt(value, digits=2):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def write_results(results):
    with open(os.path.join(BENCH, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    m = results["machine"]
    lines = [
        "# signet benchmark results",
        "",
        f"Written by `make bench` on {results['date']}: {m['cores']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}. Medians of {REPEATS} runs of {DURATION} s each, "
        "spread as min..max. Everything on 127.0.0.1; wrk and the servers share the same cores. "
        "signet and nginx runs alternate (which goes first alternates too); signet / nginx is the median of "
        "the ratios of each signet run to the nginx run beside it, so a drift in the machine's speed "
        "between runs cancels out.",
        "",
        f"Request: a {results['request_bytes']:,}-byte AdmissionReview of a 3-container Deployment; "
        f"response {results['response_bytes']:,} bytes. nginx answers the same request with a fixed "
        "response of the same size, over TLS with the same certificate (EC P-256) and keep-alive.",
        "",
    ]
    parts = dict(results.get("parts", {}))
    if parts:
        for name in ("throughput", "registry"):
            parts.setdefault(name, {"date": results["date"], "load_average": "not recorded", "kernel": m["kernel"]})
        lines += ["Each part of the bench can run alone (`make bench ONLY=notary,formats`). When each part last ran, "
                  f"on which kernel, and under what load (the load average over 1, 5 and 15 minutes; on this {m['cores']}-core "
                  f"machine anything above {m['cores']} means processes were waiting for a core, and every wall-clock figure of "
                  "that part is inflated by the wait) and how much CPU time the hypervisor gave to other guests while it ran "
                  "(steal, from /proc/stat; this machine is a virtual one, and a part measured under steal is slowed as "
                  "under load), and how the signet binary it measured was linked (`make bench` links it as the Dockerfile "
                  "does, with the Swift runtime and Foundation inside it; with them as shared libraries, every process "
                  "start pays for loading and relocating them):", "",
                  "| part | ran | kernel | load average | CPU steal | Swift runtime |", "|---|---|---|---|---|---|"]
        lines += [f"| {name} | {parts[name]['date']} | {parts[name].get('kernel', m['kernel'])} | {parts[name]['load_average']} | "
                  f"{parts[name].get('cpu_steal', 'not recorded')} | {parts[name].get('swift_runtime', 'not recorded')} |"
                  for name in PARTS if name in parts]
        lines.append("")
    lines += [
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target in results["targets"]:
        lines.append(f"| {target['target']} | {target['measured']} | {target['met']} |")
    lines += ["", "## Warm admission throughput and latency (TLS, keep-alive)", "",
              "| connections | signet req/s | nginx req/s | signet / nginx | signet p50 ms | p99 ms | p99.9 ms | nginx p99 ms | errors |",
              "|---|---|---|---|---|---|---|---|---|"]
    for connections, row in results["warm"].items():
        s, n = row["signet"], row["nginx"]
        lines.append(
            f"| {connections} | {fmt(s['rps']['median'], 0)} ({fmt(s['rps']['min'], 0)}..{fmt(s['rps']['max'], 0)}) "
            f"| {fmt(n['rps']['median'], 0)} ({fmt(n['rps']['min'], 0)}..{fmt(n['rps']['max'], 0)}) "
            f"| {row['ratio']:.0%} ({row['ratio_spread']['min']:.0%}..{row['ratio_spread']['max']:.0%}) "
            f"| {fmt(s['p50_ms']['median'], 3)} | {fmt(s['p99_ms']['median'], 3)} "
            f"| {fmt(s['p999_ms']['median'], 3)} | {fmt(n['p99_ms']['median'], 3)} | {s['errors'] + n['errors']} |")
    lines += ["", "Server CPU time (user + system, from /proc) per request, a figure that other load on the "
              "machine does not change much, and the decision time inside signet during those runs (from the "
              "`signet_admission_decision_duration_seconds` histogram, whose buckets are 50 µs wide up to 1 ms: "
              "each figure is the upper bound of the bucket the quantile falls in):", "",
              "| connections | signet CPU µs/request | nginx CPU µs/request | decision p50 | decision p99 | decision p99.9 |",
              "|---|---|---|---|---|---|"]
    for connections, row in results["warm"].items():
        s, n, d = row["signet"], row["nginx"], row.get("decision_time")
        lines.append(
            f"| {connections} | {fmt(s['cpu_us_per_request']['median'], 1)} | {fmt(n['cpu_us_per_request']['median'], 1)} "
            + (f"| {fmt_bound(d['p50_le_seconds'])} | {fmt_bound(d['p99_le_seconds'])} | {fmt_bound(d['p999_le_seconds'])} |"
               if d else "| n/a | n/a | n/a |"))
    d = results.get("decision_time")
    if d:
        lines += ["", f"Decision time over all {d['count']:,} warm reviews: p50 {fmt_bound(d['p50_le_seconds'])}, "
                  f"p99 {fmt_bound(d['p99_le_seconds'])}, p99.9 {fmt_bound(d['p999_le_seconds'])}."]
    c = results["churn"]
    lines += ["", "## Connection churn (a new TLS connection per request)", "",
              "| signet connections/s | nginx connections/s | signet / nginx |", "|---|---|---|",
              f"| {fmt(c['signet_connections_per_s']['median'], 0)} | {fmt(c['nginx_connections_per_s']['median'], 0)} | {c['ratio']:.0%} |"]
    mem = results["memory"]
    # Two parts fill this table and may have run at different times: each row says which.
    parts = results.get("parts", {})
    def measured_by(part):
        return f"{part} part, {parts[part]['date']}" if part in parts else f"{part} part"
    lines += ["", "## Memory", "", "| state | resident | measured by |", "|---|---|---|",
              f"| idle after start | {mem['idle_rss_mib']} MiB | {measured_by('throughput')} |",
              f"| after the warm runs | {mem['after_load_rss_mib']} MiB | {measured_by('throughput')} |"]
    if "with_10000_cached_verdicts_rss_mib" in mem:
        lines += [f"| a second server before filling its cache | {mem['before_filling_cache_rss_mib']} MiB | {measured_by('registry')} |",
                  f"| with 10,000 cached verdicts | {mem['with_10000_cached_verdicts_rss_mib']} MiB | {measured_by('registry')} |"]
        if "growth_per_cached_verdict_bytes" in mem:
            lines += ["", "The cache was filled by 100 reviews of 100 unsigned digest-pinned images each; the growth "
                      f"per cached verdict, everything the fill left resident included, is "
                      f"{mem['growth_per_cached_verdict_bytes']:,} bytes."]
    for extra in results.get("sections", []):
        lines += ["", f"## {extra['title']}", ""] + extra["lines"]
    lines.append("")
    with open(os.path.join(BENCH, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))


README = os.path.join(ROOT, "README.md")
README_TABLE = ("<!-- bench/run.py writes this table from bench/results.json -->", "<!-- end of the bench table -->")


def update_readme(results):
    """The README's Benchmarks table, between its markers: every target bench/RESULTS.md checks,
    met or not, with the part that measured it, when and under what load."""
    text = open(README).read()
    start, end = text.find(README_TABLE[0]), text.find(README_TABLE[1])
    if start < 0 or end < start:
        log("README.md has no bench table markers; its table was not updated")
        return
    parts = results.get("parts", {})
    rows = [README_TABLE[0], "", "| part (ran, load average) | target | measured | met |", "|---|---|---|---|"]
    for target in results["targets"]:
        part = target.get("part", "registry")
        ran = parts.get(part, {})
        when = f"{ran['date'][:10]}, {ran['load_average'].split(',')[0]}" if ran.get("load_average", "not recorded") != "not recorded" \
            else ran.get("date", results["date"])[:10]
        cells = [f"{part} ({when})", target["target"], target["measured"], target["met"]]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    with open(README, "w") as f:
        f.write(text[:start] + "\n".join(rows) + "\n\n" + text[end:])


def evaluate_targets(results):
    targets = []
    d = results.get("decision_time")
    if d:
        targets.append({"part": "throughput", "target": "warm p99 decision time inside the server < 1 ms",
                        "measured": f"p99 {fmt_bound(d['p99_le_seconds'])} over {d['count']:,} reviews",
                        "met": "yes" if d["p99_le_seconds"] < 0.001 else "no"})
    # Met only when it holds at every concurrency measured.
    short = [c for c, row in results["warm"].items() if row["ratio"] < 0.7]
    targets.append({"part": "throughput", "target": "warm throughput ≥ 70% of nginx's on the same machine, at every concurrency",
                    "measured": ", ".join(f"{c} conns: {row['ratio']:.0%}" for c, row in results["warm"].items()),
                    "met": "yes" if not short else "no (below at " + ", ".join(f"{c} conns" for c in short) + ")"})
    cpu = {c: row["signet"]["cpu_us_per_request"]["median"] / row["nginx"]["cpu_us_per_request"]["median"]
           for c, row in results["warm"].items() if row["nginx"]["cpu_us_per_request"]["median"]}
    costly = [c for c, ratio in cpu.items() if ratio > 2]
    targets.append({"part": "throughput", "target": "signet's CPU time per warm request ≤ 2× nginx's, at every concurrency",
                    "measured": ", ".join(f"{c} conns: {ratio:.1f}×" for c, ratio in cpu.items()),
                    "met": "yes" if cpu and not costly else "no (above at " + ", ".join(f"{c} conns" for c in costly) + ")"})
    targets += results.get("extra_targets", [])
    results["targets"] = targets


PARTS = ("throughput", "verdicts", "profile", "instructions", "registry", "notary", "formats", "reference", "mixed", "rollout", "memory")


def measure_part(part, binary, ws, results, shared):
    """Runs `<part>_bench.measure`, marking what it adds with the part's name."""
    import registry_bench
    sections, targets = len(results.get("sections", [])), len(results.get("extra_targets", []))
    module = importlib.import_module(f"{part}_bench")
    if part in ("reference", "profile"):
        module.measure(binary, ws, results)
    else:
        if "registry" not in shared:
            shared["registry"] = registry_bench.Registry(ws)
        module.measure(binary, ws, results, shared["registry"])
    for entry in results.get("sections", [])[sections:] + results.get("extra_targets", [])[targets:]:
        entry["part"] = part


def cpu_times():
    """The machine's CPU time so far, from the first line of /proc/stat (in clock ticks):
    (all, steal); None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_share(before, after):
    """The share of the machine's CPU time its hypervisor gave to other guests between two
    `cpu_times()` readings ("steal" in proc(5)), as a percentage; the wall-clock figures of a
    part measured with much steal are inflated by it, as by a high load."""
    if not before or not after or after[0] <= before[0]:
        return "not recorded"
    return "{:.0f}%".format(100.0 * (after[1] - before[1]) / (after[0] - before[0]))


def swift_runtime_linkage(binary):
    """`static` when the binary carries the Swift runtime (`--static-swift-stdlib`, as the
    Dockerfile builds it), `shared` when it loads libswiftCore.so, from the binary's own dynamic
    section (`readelf -d`: its NEEDED entries), not from what happens to be installed."""
    try:
        out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
    except OSError:
        return "not recorded"
    if out.returncode != 0:
        return "not recorded"
    return "shared" if "libswiftCore.so" in out.stdout else "static"


def main():
    arguments = sys.argv[1:]
    only = None
    if "--only" in arguments:
        at = arguments.index("--only")
        only = arguments[at + 1].split(",")
        del arguments[at:at + 2]
        unknown = [p for p in only if p not in PARTS]
        if unknown:
            sys.exit(f"bench: unknown part(s) {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    binary = arguments[0] if arguments else os.path.join(ROOT, ".build/release/signet")
    parts = only or list(PARTS)
    if only and os.path.exists(os.path.join(BENCH, "results.json")):
        # Only some parts run again: the others keep the figures of their last run.
        results = json.load(open(os.path.join(BENCH, "results.json")))
        results["sections"] = [s for s in results.get("sections", []) if s.get("part", "registry") not in parts]
        results["extra_targets"] = [t for t in results.get("extra_targets", []) if t.get("part", "registry") not in parts]
    else:
        results = {"date": now(), "machine": machine(), "repeats": REPEATS, "seconds_per_run": DURATION}
    ws = Workspace()
    shared = {}  # the loopback registry, started by the first part that needs it
    try:
        for part in parts:
            results.setdefault("parts", {})[part] = {"date": now(), "kernel": platform.release(),
                                                     "load_average": "{:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg()),
                                                     "swift_runtime": swift_runtime_linkage(binary)}
            log(f"{part} (load average {results['parts'][part]['load_average']})")
            before = cpu_times()
            try:
                if part == "throughput":
                    measure_throughput(binary, ws, results)
                else:
                    measure_part(part, binary, ws, results, shared)
            finally:
                results["parts"][part]["cpu_steal"] = steal_share(before, cpu_times())
                log(f"{part}: CPU steal {results['parts'][part]['cpu_steal']}")
        # In the order of the parts, whichever of them ran this time (a part no longer in PARTS last).
        def part_order(entry):
            part = entry.get("part", "registry")
            return PARTS.index(part) if part in PARTS else len(PARTS)
        for key in ("sections", "extra_targets"):
            results[key] = sorted(results.get(key, []), key=part_order)
        evaluate_targets(results)
        write_results(results)
        update_readme(results)
    finally:
        if shared.get("registry"):
            shared["registry"].stop()
        ws.close()
    log("wrote bench/RESULTS.md and bench/results.json")


if __name__ == "__main__":
    main()
