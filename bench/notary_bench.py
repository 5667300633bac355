"""Docker Content Trust (Notary v1) in `make bench`: Debian's notary-server (memory storage, TLS
with the bench's test certificate, 127.0.0.1) beside the loopback docker-registry, images pushed
and their tags signed with Debian's `notary` client in a `targets/releases` delegation (as the
Notary tests sign them), then verified by signet cold and warm through /validate and as a whole
`signet verify` process, beside `notary lookup`, the reference client, from a fresh trust
directory each time.

Requests to the Notary server are counted from its own request log (one `/_trust/tuf/` line per
request it answered), requests to the registry from signet's `signet_registry_requests_total`."""
import base64
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

import registry_bench
import run

NOTARY_SERVER = "/usr/bin/notary-server"
NOTARY = "/usr/bin/notary"
# The least client: fetches what a verification must fetch and does nothing else.
CURL = "/usr/bin/curl"
# The passphrases the client's keys are stored under.
PASSPHRASES = {"NOTARY_ROOT_PASSPHRASE": "bench-root", "NOTARY_TARGETS_PASSPHRASE": "bench-targets",
               "NOTARY_SNAPSHOT_PASSPHRASE": "bench-snapshot", "NOTARY_DELEGATION_PASSPHRASE": "bench-delegation"}
DELEGATION = "targets/releases"
# The TUF metadata a verification of a tag signed in DELEGATION fetches from the Notary server
# (what signet fetches, in parallel; `notary lookup` fetches the same after its `/v2/` ping).
ROLES = ("root", "timestamp", "snapshot", "targets", DELEGATION)
SAMPLES = int(os.environ.get("SIGNET_BENCH_COLD_SAMPLES", "7"))
WARM = 200


def available():
    return all(os.access(p, os.X_OK) for p in (NOTARY_SERVER, NOTARY, CURL))


class NotaryServer:
    """notary-server with memory storage over TLS (the bench's self-signed certificate for
    127.0.0.1, which is also the CA clients trust), logging each request it answers."""

    def __init__(self, ws):
        self.port = run.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = ws.cert
        self.dir = tempfile.mkdtemp(prefix="signet-bench-notary-", dir=ws.dir)
        self.trust = os.path.join(self.dir, "signer-trust")
        config = os.path.join(self.dir, "server.json")
        with open(config, "w") as f:
            json.dump({"server": {"http_addr": f"127.0.0.1:{self.port}", "tls_cert_file": ws.cert, "tls_key_file": ws.key},
                       "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
                       "logging": {"level": "info"}, "storage": {"backend": "memory"}}, f)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([NOTARY_SERVER, "-config", config], stdout=self.log, stderr=subprocess.STDOUT)
        run.wait_until_listening(self.port)
        self.delegate = None

    def client(self, arguments, trust=None, check=True):
        result = subprocess.run([NOTARY, "-d", trust or self.trust, "-s", self.url, "--tlscacert", self.ca, *arguments],
                                env={**os.environ, **PASSPHRASES}, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise RuntimeError(f"notary {' '.join(arguments)}: {result.stdout} {result.stderr}")
        return result

    def sign(self, gun, tag, digest, size):
        """Initialises `gun` (its root key in the signer's trust directory), delegates
        targets/releases to an RSA key, signs `tag` → `digest` there and publishes."""
        if self.delegate is None:
            key = os.path.join(self.dir, "releaser.key")
            cert = os.path.join(self.dir, "releaser.crt")
            subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
            subprocess.run(["openssl", "req", "-new", "-x509", "-key", key, "-out", cert, "-days", "3650", "-subj", "/CN=releaser"],
                           check=True, capture_output=True)
            self.client(["key", "import", key, "--role", "releaser"])
            self.delegate = cert
        self.client(["init", gun])
        self.client(["delegation", "add", gun, DELEGATION, self.delegate, "--all-paths"])
        self.client(["addhash", gun, tag, str(size), "--sha256", digest.split(":", 1)[1], "--roles", DELEGATION])
        self.client(["publish", gun])

    def root_certificate(self, gun):
        """The PEM certificate of `gun`'s root key, read from the signer's cached root.json:
        what a policy pins."""
        path = os.path.join(self.trust, "tuf", gun, "metadata", "root.json")
        signed = json.load(open(path))["signed"]
        key_id = signed["roles"]["root"]["keyids"][0]
        return base64.b64decode(signed["keys"][key_id]["keyval"]["public"]).decode()

    def answered(self):
        """Each `response completed` line of the server's JSON log so far (one per request
        answered), as its decoded entry."""
        self.log.flush()
        entries = []
        with open(self.log_path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "response completed" and "http.request.uri" in entry:
                    entries.append(entry)
        return entries

    def requests(self):
        """The requests the server has answered so far, as `METHOD uri` strings."""
        return [f"{e.get('http.request.method')} {e['http.request.uri']}" for e in self.answered()]

    def answer_durations_ms(self):
        """`(METHOD uri, milliseconds)` for each request answered so far, in the order answered
        (`http.response.duration`; None where absent)."""
        return [(f"{e.get('http.request.method')} {e['http.request.uri']}",
                 registry_bench.go_duration_ms(e.get("http.response.duration"))) for e in self.answered()]

    def stop(self):
        run.stop_process(self.process)
        self.log.close()


def authority_yaml(name, glob, server, root_pem):
    """A ClusterImagePolicy with one notaryV1 authority pinning `root_pem` for `glob`."""
    return registry_bench.policy_yaml(name, glob, f"""- name: dct
  notaryV1:
    server: {server.url}
    rootKeys:
      - pem: |
{registry_bench.indent(root_pem, 10)}
    delegations: [{DELEGATION}]
    caBundleFile: {server.ca}""")


def timed_process(arguments, env=None):
    """Runs a whole process; returns (wall ms, CPU ms of the process: user + system, exit code, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(arguments, capture_output=True, text=True, env=env, timeout=300)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
    return wall, cpu, result.returncode, result.stdout + result.stderr


def least_client(notary, gun):
    """The floor of any client's whole process: one `curl` process fetching ROLES for `gun` from
    the Notary server over one TLS connection (the server's CA, bodies discarded), checking
    nothing. Returns (wall ms, CPU ms, the server's own answer time for those requests summed in
    ms, None where it logged none, requests it answered)."""
    urls = [f"{notary.url}/v2/{gun}/_trust/tuf/{role}.json" for role in ROLES]
    fetches = [argument for url in urls for argument in ("-o", "/dev/null", url)]
    before = len(notary.answered())
    wall, cpu, code, output = timed_process(
        [CURL, "-s", "--cacert", notary.ca, "-w", "%{http_code} %{num_connects}\n", *fetches])
    transfers = [line.split() for line in output.splitlines()]
    assert code == 0 and [status for status, _ in transfers] == ["200"] * len(urls), output
    assert sum(int(connects) for _, connects in transfers) == 1, f"curl opened more than one connection: {output}"
    time.sleep(0.2)  # the server writes its log line as it answers; let the last one land
    answered = notary.answer_durations_ms()[before:]
    durations = [duration for _, duration in answered]
    return wall, cpu, None if None in durations else sum(durations), len(answered)


def load_average():
    return "{:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg())


def ratio(slow, fast):
    return slow / fast if fast else None


def cold_and_warm(binary, ws, policy_dir, extra, reference, servers, warm=0):
    """A fresh `signet serve` (nothing cached, no connection open to any server) reviews one pod
    naming `reference`: the first review is timed as cold, with the requests each server in
    `servers` (name → callable listing the requests it has answered, from its own log) answered
    during it; then `warm` reviews of the same pod on the same connection.
    Returns (cold ms, {server: [requests]}, [warm ms], {server: [requests]}, answer)."""
    server = run.Signet(binary, ws, extra=extra, policy_dir=policy_dir)
    try:
        connection = server.connection()
        server.request(connection, "GET", "/metrics")  # the TLS handshake, outside the timing
        body = registry_bench.pod_review([reference])
        before = {name: len(listing()) for name, listing in servers.items()}
        start = time.perf_counter()
        answer = json.loads(server.request(connection, "POST", "/validate?timeout=10s", body))
        cold = (time.perf_counter() - start) * 1000
        time.sleep(0.2)  # the servers write their log line as they answer; let the last one land
        made = {name: listing()[before[name]:] for name, listing in servers.items()}
        warm_ms = []
        for _ in range(warm):
            start = time.perf_counter()
            server.request(connection, "POST", "/validate?timeout=10s", body)
            warm_ms.append((time.perf_counter() - start) * 1000)
        time.sleep(0.2)
        warm_made = {name: listing()[before[name] + len(made[name]):] for name, listing in servers.items()}
        connection.close()
        return cold, made, warm_ms, warm_made, answer
    finally:
        server.stop()


def setup(ws, registry, count):
    """notary-server, and `count` images each in its own GUN with tag `v1` signed: one GUN per
    cold sample, so no sample finds another's metadata anywhere."""
    notary = NotaryServer(ws)
    images = []
    for index in range(count):
        repository = f"bench/dct{index}"
        digest, size = registry.push_image_sized(repository, "v1", f"dct-{index}")
        gun = f"{registry.host}/{repository}"
        notary.sign(gun, "v1", digest, size)
        images.append({"gun": gun, "tag": "v1", "digest": digest, "root": notary.root_certificate(gun)})
    return notary, images


def write_policies(ws, notary, images):
    directory = os.path.join(ws.dir, "policies-notary")
    os.makedirs(directory, exist_ok=True)
    for index, image in enumerate(images):
        with open(os.path.join(directory, f"dct{index}.yaml"), "w") as f:
            f.write(authority_yaml(f"bench-dct-{index}", image["gun"], notary, image["root"]))
    return directory


def measure(binary, ws, results, registry):
    """Task: cold and warm Notary v1 verification through /validate and as a whole `signet verify`
    process, beside `notary lookup` from a fresh trust directory."""
    if not available():
        run.log("notary: notary-server, notary or curl missing; skipped")
        return
    notary, images = setup(ws, registry, SAMPLES)
    try:
        policy_dir = write_policies(ws, notary, images)
        extra = ("--allow-insecure-registry", registry.host)
        servers = {"registry": registry.requests, "notary": notary.requests}
        cold_ms, cold_registry, cold_notary, warm_ms, warm_requests = [], [], [], [], []
        for index, image in enumerate(images):
            cold, made, warm, warm_made, answer = cold_and_warm(
                binary, ws, policy_dir, extra, f"{image['gun']}:{image['tag']}", servers, warm=WARM if index == 0 else 0)
            assert answer["response"]["allowed"], answer
            cold_ms.append(cold)
            cold_registry.append(len(made["registry"]))
            cold_notary.append(len(made["notary"]))
            if index == 0:
                cold_detail = made
            if warm:
                warm_ms, warm_requests = warm, warm_made
        # Whole process against whole process: `signet verify` (pinned root key, tag resolved at
        # the registry, digest checked) and `notary lookup` (trust on first use of the root, no
        # registry), each from nothing: signet has no cache between processes, notary gets a
        # fresh trust directory every run.
        verify_ms, verify_cpu, verify_notary = [], [], []
        lookup_ms, lookup_cpu, lookup_notary = [], [], []
        least_ms, least_cpu, least_answer, least_notary = [], [], [], []
        for index, image in enumerate(images):
            root_file = os.path.join(ws.dir, f"dct{index}-root.pem")
            with open(root_file, "w") as f:
                f.write(image["root"])
            before = len(notary.requests())
            wall, cpu, code, output = timed_process([
                binary, "verify", f"{image['gun']}:{image['tag']}", "--notary-server", notary.url, "--root-key", root_file,
                "--notary-ca", notary.ca, "--delegation", DELEGATION, "--allow-insecure-registry", registry.host])
            assert code == 0 and image["digest"] in output, output
            verify_ms.append(wall)
            verify_cpu.append(cpu)
            time.sleep(0.2)
            verify_notary.append(len(notary.requests()) - before)
            fresh = tempfile.mkdtemp(prefix="notary-lookup-", dir=ws.dir)
            before = len(notary.requests())
            wall, cpu, code, output = timed_process(
                [NOTARY, "-d", fresh, "-s", notary.url, "--tlscacert", notary.ca, "lookup", image["gun"], image["tag"]])
            assert code == 0 and image["digest"].split(":", 1)[1] in output, output
            lookup_ms.append(wall)
            lookup_cpu.append(cpu)
            time.sleep(0.2)
            lookup_notary.append(len(notary.requests()) - before)
            shutil.rmtree(fresh, ignore_errors=True)
            wall, cpu, answer_ms, requests = least_client(notary, image["gun"])
            least_ms.append(wall)
            least_cpu.append(cpu)
            least_answer.append(answer_ms)
            least_notary.append(requests)
        # What starting the process costs by itself: the floor of any whole-process figure.
        start_only = {"signet": [], "notary": [], "curl": []}
        for _ in images:
            start_only["signet"].append(timed_process([binary, "--version"])[:2])
            start_only["notary"].append(timed_process([NOTARY, "version"])[:2])
            start_only["curl"].append(timed_process([CURL, "--version"])[:2])
    finally:
        notary.stop()

    cold = run.spread(cold_ms)
    warm = run.spread(warm_ms)
    verify, lookup = run.spread(verify_ms), run.spread(lookup_ms)
    verify_c, lookup_c = run.spread(verify_cpu), run.spread(lookup_cpu)
    wall_ratio = ratio(lookup["median"], verify["median"])
    cpu_ratio = ratio(lookup_c["median"], verify_c["median"])
    cold_ratio = ratio(lookup["median"], cold["median"])
    # What a 10× ratio leaves the client, and whether the least client already takes more.
    least, least_c, least_a = run.spread(least_ms), run.spread(least_cpu), run.spread(least_answer)
    allowed = lookup["median"] / 10
    floor_over = least["median"] > allowed
    start = {f"{name}_{kind}": run.spread([sample[index] for sample in start_only[name]])
             for name in start_only for index, kind in ((0, "ms"), (1, "cpu_ms"))}
    results["notary_v1"] = {
        "process_start": start,
        "load_average": load_average(), "samples": len(images),
        "cold_validate_ms": cold, "cold_registry_requests": cold_registry, "cold_notary_requests": cold_notary,
        "cold_requests_first_sample": cold_detail,
        "warm_validate_ms": warm, "warm_reviews": len(warm_ms), "warm_requests": warm_requests,
        "signet_verify_ms": verify, "signet_verify_cpu_ms": verify_c, "signet_verify_notary_requests": verify_notary,
        "notary_lookup_ms": lookup, "notary_lookup_cpu_ms": lookup_c, "notary_lookup_notary_requests": lookup_notary,
        "ratio_wall": wall_ratio, "ratio_cpu": cpu_ratio, "ratio_cold_validate": cold_ratio,
        "least_client_curl_ms": least, "least_client_curl_cpu_ms": least_c,
        "least_client_curl_notary_answer_ms": least_a, "least_client_curl_notary_requests": least_notary,
        "allowed_ms_at_10x": allowed, "least_client_over_allowed": floor_over,
    }
    run.log(f"notary v1: cold /validate {cold['median']:.1f} ms median, warm {warm['median']:.2f} ms; "
            f"signet verify {verify['median']:.0f} ms ({verify_c['median']:.0f} ms CPU), "
            f"notary lookup {lookup['median']:.0f} ms ({lookup_c['median']:.0f} ms CPU); "
            f"least client (curl) {least['median']:.1f} ms ({least_c['median']:.1f} ms CPU), 10× allows {allowed:.1f} ms")

    def fmt_spread(s, digits=1):
        return f"{s['median']:.{digits}f} ms (max {s['max']:.{digits}f})"
    commands = [
        "```",
        "notary-server -config server.json   # memory storage, TLS on 127.0.0.1, logging info",
        "notary -d SIGNER -s URL --tlscacert CA init 127.0.0.1:PORT/bench/dctN",
        "notary ... delegation add GUN targets/releases releaser.crt --all-paths   # RSA delegation key",
        "notary ... addhash GUN v1 SIZE --sha256 HEX --roles targets/releases && notary ... publish GUN",
        "# signet, cold: a fresh `signet serve` per sample, one /validate review of a pod naming GUN:v1",
        "# signet, whole process:",
        "signet verify GUN:v1 --notary-server URL --root-key root.pem --notary-ca CA --delegation targets/releases \\",
        "    --allow-insecure-registry 127.0.0.1:PORT",
        "# the reference client, whole process, a fresh trust directory each run:",
        "notary -d $(mktemp -d) -s URL --tlscacert CA lookup GUN v1",
        "# the least client, whole process, one TLS connection:",
        "curl -s --cacert CA -o /dev/null URL/v2/GUN/_trust/tuf/root.json -o /dev/null .../timestamp.json \\",
        "    -o /dev/null .../snapshot.json -o /dev/null .../targets.json -o /dev/null .../targets/releases.json",
        "curl --version",
        "```",
    ]
    section = {"part": "notary", "title": "Notary v1 (Docker Content Trust) beside `notary lookup`", "lines": [
        f"Measured {run.now()} with load average {results['notary_v1']['load_average']} "
        f"(1, 5, 15 min) on {os.cpu_count()} cores. Debian's notary-server (memory storage, TLS) and docker-registry on 127.0.0.1; "
        f"{len(images)} images, each in a GUN of its own, tag `v1` signed by the `notary` client in `targets/releases` "
        "(RSA delegation key). Requests counted in the Notary server's and the registry's own request logs.", "",
        "| measure | signet | notary lookup | notary / signet |", "|---|---|---|---|",
        f"| cold, through /validate (fresh `signet serve`, first review; TLS to signet already open) | {fmt_spread(cold)} | | |",
        f"| warm, through /validate (the same pod again, {len(warm_ms)} reviews, one connection) | {fmt_spread(warm, 2)} | | |",
        f"| whole process, wall time | {fmt_spread(verify, 0)} | {fmt_spread(lookup, 0)} | {wall_ratio:.1f}× |",
        f"| whole process, CPU time (user + system) | {fmt_spread(verify_c, 0)} | {fmt_spread(lookup_c, 0)} | {cpu_ratio:.1f}× |",
        f"| process start alone (`signet --version`, `notary version`), wall | {fmt_spread(start['signet_ms'], 0)} "
        f"| {fmt_spread(start['notary_ms'], 0)} | |",
        f"| process start alone, CPU | {fmt_spread(start['signet_cpu_ms'], 0)} | {fmt_spread(start['notary_cpu_ms'], 0)} | |",
        f"| least client: `curl` fetching the same five files over one TLS connection, whole process | "
        f"curl: {fmt_spread(least)} wall, {fmt_spread(least_c)} CPU | | |",
        f"| `curl --version` | curl: {fmt_spread(start['curl_ms'])} wall, {fmt_spread(start['curl_cpu_ms'])} CPU | | |",
        f"| the Notary server's own answer time for curl's {len(ROLES)} requests, summed per run | "
        + (f"curl: {fmt_spread(least_a, 2)} |" if least_a["median"] is not None else "not logged |") + " | |",
        f"| requests to the Notary server (cold) | {', '.join(map(str, cold_notary))} | {', '.join(map(str, lookup_notary))} | |",
        f"| requests to the registry (cold; tag resolution) | {', '.join(map(str, cold_registry))} | none (notary does not read the registry) | |",
        f"| requests made by the warm reviews | {len(warm_requests['notary'])} Notary, {len(warm_requests['registry'])} registry | | |",
        "",
        "signet resolves the tag at the registry (HEAD), then fetches root, timestamp, snapshot, targets and "
        "targets/releases (5 files, in parallel) from the Notary server and, beside them, the manifest by digest for its "
        "length (GET; its bytes are hashed against the digest first), "
        "then checks the signed digest and length; "
        "`notary lookup` pings the server (`/v2/`), fetches the same metadata (trusting the root on first use) and does not look at the registry. "
        "The target is judged on the whole-process figures, `signet verify` against `notary lookup`, the honest comparison "
        "(both start from nothing: a new process, no connection, no cache); a cold review through a running `signet serve` "
        f"took {cold['median']:.1f} ms, " + (f"{cold_ratio:.1f}× faster than `notary lookup`'s wall time." if cold_ratio >= 1 else f"{1 / cold_ratio:.1f}× slower than `notary lookup`'s wall time."),
        "",
        "A client that verifies nothing, beside them: one `curl` process (C, libcurl and OpenSSL) fetching the five files a "
        "verification must fetch from the same server, over one TLS connection, one after another; it took "
        f"{least['median']:.1f} ms (median), of which its process start (`curl --version`) is {start['curl_ms']['median']:.1f} ms "
        + (f"and the server's own answers {least_a['median']:.2f} ms" if least_a["median"] is not None else "(the server logged no answer times)")
        + f". A 10× ratio allows {allowed:.1f} ms (`notary lookup`'s {lookup['median']:.1f} ms / 10): "
        + ("curl alone, fetching and checking nothing, takes more than that; the target asks a verifier to start, connect, "
           "fetch and verify in less time than a general-purpose C client takes to start and fetch."
           if floor_over else
           f"curl fits within it, with {allowed - least['median']:.1f} ms to spare for everything a verifier adds."),
        ""] + commands}
    results.setdefault("sections", []).append(section)
    results.setdefault("extra_targets", []).append({
        "part": "notary", "target": "Notary v1: signet ≥ 10× faster than `notary lookup` (whole process, wall time)",
        "measured": f"{wall_ratio:.1f}× ({verify['median']:.0f} vs {lookup['median']:.0f} ms; CPU {cpu_ratio:.1f}×); floor: "
                    f"`signet --version` alone takes {start['signet_ms']['median']:.0f} ms ({start['signet_cpu_ms']['median']:.0f} ms CPU), "
                    f"{start['signet_ms']['median'] / allowed:.0f}× the {allowed:.1f} ms a 10× ratio allows; "
                    f"`curl` fetching the same five files and verifying nothing takes {least['median']:.1f} ms",
        "met": "yes" if wall_ratio >= 10 else "no"})
