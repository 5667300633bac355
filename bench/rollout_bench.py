"""A rollout at scale, simulated, in `make bench`: three `signet serve` replicas (separate processes,
separate caches) behind a client that spreads reviews over them as a Service does, one loopback
docker-registry holding 50 signed images, and 200 Deployments of 10 pods each created within a
minute.

What the API server sends for each Deployment, in order, as the chart's webhook matches
Deployments, ReplicaSets and Pods: the Deployment's review (from the user's client), its
ReplicaSet's (from the deployment controller), then its 10 Pods' (from the ReplicaSet controller,
in slow-start batches of 1, 2, 4 and 3 Pods sent at once, each batch after the one before it
was answered), each Pod owned by its ReplicaSet. The Deployments are applied in four waves 15 s
apart, 50 at seeded random times within 2 s each (every wave names all 50 images); the
controllers work on at most 5 objects at once, kube-controller-manager's default. Each review goes
to a replica chosen at random (kube-proxy's choice for a new connection), over keep-alive
connections. Images are named by tag, as Deployments are usually
written, so each replica resolves tags as well as fetching signatures.

Registry requests are counted in docker-registry's access log. To tell the replicas apart, each
reaches the registry through its own pass-through forward proxy (bench/registry_proxy.py with
`--forward`, set as the process's `http_proxy`, which libcurl honours), whose request log names
what that replica asked; the proxies' counts must add up to the access log's."""
import asyncio
import json
import hashlib
import os
import random
import re
import time

import load
import registry_bench
import run

REPLICAS = 3
IMAGES = 50
DEPLOYMENTS = 200
PODS = 10
BATCHES = (1, 2, 4, 3)
# Four waves (as sync waves apply them), 15 s apart, each of 50 Deployments applied within 2 s.
WAVES = 4
WAVE_EVERY_S = 15
WAVE_SPREAD_S = 2
# kube-controller-manager's --concurrent-deployment-syncs and --concurrent-replicaset-syncs defaults.
CONTROLLER_WORKERS = 5
TIMEOUT = "10s"
TARGET_PER_IMAGE_PER_REPLICA = 3
SEED = 25


def short_hash(text, length):
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def owner(kind, name):
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": f"{short_hash(name, 8)}-0000-4000-8000-{short_hash(kind + name, 12)}",
             "controller": True, "blockOwnerDeletion": True}]


def workload(index, images):
    """Deployment `index`'s review, its ReplicaSet's and its Pods', as the API server sends them."""
    name, namespace = f"svc-{index:03d}", f"team-{index % 20:02d}"
    chosen = [images[index % IMAGES]] + ([images[(index // 4 + 25) % IMAGES]] if index % 4 == 0 else [])
    containers = [run.container_spec(role, image) for role, image in zip(("app", "sidecar"), chosen)]
    template = run.pod_template(name, containers)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                  "spec": {"replicas": PODS, "selector": {"matchLabels": {"app": name}}, "template": template}}
    template_hash = short_hash(name, 10)
    replica_set_name = f"{name}-{template_hash}"
    labels = {**template["metadata"]["labels"], "pod-template-hash": template_hash}
    replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": replica_set_name, "namespace": namespace, "labels": labels,
                                "annotations": {"deployment.kubernetes.io/revision": "1"},
                                "ownerReferences": owner("Deployment", name)},
                   "spec": {"replicas": PODS, "selector": {"matchLabels": {"app": name, "pod-template-hash": template_hash}},
                            "template": {**template, "metadata": {**template["metadata"], "labels": labels}}}}
    reviews = [run.admission_review(f"d-{index}", "apps", "Deployment", "deployments", name, namespace,
                                    "system:serviceaccount:argocd:argocd-application-controller", deployment),
               run.admission_review(f"r-{index}", "apps", "ReplicaSet", "replicasets", replica_set_name, namespace,
                                    "system:serviceaccount:kube-system:deployment-controller", replica_set)]
    for pod_index in range(PODS):
        pod_name = f"{replica_set_name}-{short_hash(f'{index}-{pod_index}', 5)}"
        spec = {**template["spec"], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "terminationGracePeriodSeconds": 30, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
                "priority": 0, "securityContext": {},
                "containers": [{**c, "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                                "terminationMessagePolicy": "File"} for c in containers],
                "tolerations": [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 300} for t in ("not-ready", "unreachable")],
                "volumes": template["spec"]["volumes"] + [{"name": f"kube-api-access-{short_hash(pod_name, 5)}", "projected": {
                    "defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "generateName": f"{replica_set_name}-", "namespace": namespace, "labels": labels,
                            "annotations": template["metadata"]["annotations"], "ownerReferences": owner("ReplicaSet", replica_set_name)},
               "spec": spec}
        reviews.append(run.admission_review(f"p-{index}-{pod_index}", "", "Pod", "pods", pod_name, namespace,
                                            "system:serviceaccount:kube-system:replicaset-controller", pod))
    return reviews


def request_kind(path):
    if re.search(r"/manifests/sha256-[0-9a-f]{64}\.sig$", path):
        return "signature manifest"
    if "/blobs/" in path:
        return "blob"
    if re.search(r"/manifests/sha256:", path):
        return "manifest by digest"
    if "/manifests/" in path:
        return "tag resolution"
    return "other"


def repository_of(path):
    m = re.match(r"\S+ /v2/(.+?)/(manifests|blobs|referrers|tags)/", path)
    return m.group(1) if m else None


def measure(binary, ws, results, registry):
    key, public = registry_bench.make_key(ws, "rollout")
    policy_dir = registry_bench.key_policy_dir(ws, "rollout", f"{registry.host}/rollout/**", public)
    load.push_signed_images(registry, [(f"rollout/svc{k:02d}", f"1.{k}.0", f"rollout-{k}") for k in range(IMAGES)], key)
    images = [f"{registry.host}/rollout/svc{k:02d}:1.{k}.0" for k in range(IMAGES)]
    rng = random.Random(SEED)
    per_wave = DEPLOYMENTS // WAVES
    starts = [(index // per_wave) * WAVE_EVERY_S + rng.uniform(0, WAVE_SPREAD_S) for index in range(DEPLOYMENTS)]
    workloads = [[json.dumps(review).encode() for review in workload(index, images)] for index in range(DEPLOYMENTS)]

    proxies, servers = [], []
    try:
        for replica in range(REPLICAS):
            proxy = load.RegistryProxy(ws, registry, f"rollout-{replica}", forward=True)
            proxies.append(proxy)
            env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy", "all_proxy")}
            env["http_proxy"] = f"http://{proxy.host}"
            servers.append(run.Signet(binary, ws, policy_dir=policy_dir, env=env,
                                      extra=("--allow-insecure-registry", registry.host, "--reserved-peers", "127.0.0.1/32")))
        idle_rss = [run.rss_kib(s.process.pid) for s in servers]
        requests_before = len(registry.requests())
        records = []
        in_flight = {"now": 0, "peak": 0}

        async def rollout():
            clients = [load.AdmissionClient(s.port, ws.cert) for s in servers]
            loop = asyncio.get_running_loop()
            begin = loop.time()
            deployment_controller = asyncio.Semaphore(CONTROLLER_WORKERS)
            replica_set_controller = asyncio.Semaphore(CONTROLLER_WORKERS)

            async def send(body, kind):
                replica = rng.randrange(REPLICAS)
                in_flight["now"] += 1
                in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
                sent = loop.time() - begin
                status, answer, elapsed = await clients[replica].review(body, TIMEOUT)
                in_flight["now"] -= 1
                allowed = status == 200 and answer["response"]["allowed"]
                records.append({"kind": kind, "replica": replica, "sent_s": sent, "ms": elapsed, "status": status, "allowed": allowed,
                                 "reason": None if allowed else (load.denial_message(answer) if status == 200 else str(answer))})

            async def deployment(index):
                await asyncio.sleep(max(0.0, begin + starts[index] - loop.time()))
                reviews = workloads[index]
                await send(reviews[0], "Deployment")
                async with deployment_controller:
                    await send(reviews[1], "ReplicaSet")
                pods, at = reviews[2:], 0
                async with replica_set_controller:
                    for size in BATCHES:
                        await asyncio.gather(*(send(body, "Pod") for body in pods[at:at + size]))
                        at += size

            await asyncio.gather(*(deployment(index) for index in range(DEPLOYMENTS)))
            for client in clients:
                client.close()
            return loop.time() - begin

        started = time.perf_counter()
        duration = asyncio.run(rollout())
        run.log(f"rollout: {len(records)} reviews in {time.perf_counter() - started:.1f} s")
        time.sleep(0.5)  # the registry and the proxies write their log line as they answer
        made = registry.requests()[requests_before:]
        per_replica = [[line for line in proxy.requests()] for proxy in proxies]
        peak_rss = [run.rss_kib(s.process.pid, "VmHWM") for s in servers]
        metrics = [registry_bench.metric(s.metrics(), "signet_registry_requests_total") for s in servers]
    finally:
        for server in servers:
            server.stop()
        for proxy in proxies:
            proxy.stop()
    report(results, records, duration, made, per_replica, idle_rss, peak_rss, metrics, in_flight["peak"])


def report(results, records, duration, made, per_replica, idle_rss, peak_rss, metrics, peak_in_flight):
    per_image = {}
    for line in made:
        repository = repository_of(line)
        per_image[repository] = per_image.get(repository, 0) + 1
    per_image_replica = {}
    for replica, lines in enumerate(per_replica):
        for line in lines:
            key = (repository_of(line), replica)
            per_image_replica[key] = per_image_replica.get(key, 0) + 1
    attributed = sum(len(lines) for lines in per_replica)
    # The most requests of each kind one replica made for one image.
    most_by_kind = {}
    for replica, lines in enumerate(per_replica):
        counts = {}
        for line in lines:
            key = (repository_of(line), request_kind(line.split(" ", 1)[1]))
            counts[key] = counts.get(key, 0) + 1
        for (_, kind), count in counts.items():
            most_by_kind[kind] = max(most_by_kind.get(kind, 0), count)
    kinds = {}
    for line in made:
        kind = request_kind(line.split(" ", 1)[1])
        kinds[kind] = kinds.get(kind, 0) + 1
    latencies = [r["ms"] for r in records]
    pods = [r["ms"] for r in records if r["kind"] == "Pod"]
    errors = sum(1 for r in records if r["status"] != 200)
    denied = [r for r in records if r["status"] == 200 and not r["allowed"]]
    by_kind = {kind: sum(1 for r in records if r["kind"] == kind) for kind in ("Deployment", "ReplicaSet", "Pod")}
    by_replica = [sum(1 for r in records if r["replica"] == replica) for replica in range(REPLICAS)]
    last_sent = max(r["sent_s"] for r in records)
    worst = max(per_image_replica.values()) if per_image_replica else None
    summary = {"reviews": len(records), "by_kind": by_kind, "by_replica": by_replica, "errors": errors, "denied": len(denied),
               "seconds": duration, "last_sent_s": last_sent, "peak_in_flight": peak_in_flight,
               "latency_all": load.latency_summary(latencies), "latency_pods": load.latency_summary(pods),
               "registry_requests": len(made), "registry_requests_by_kind": kinds,
               "registry_requests_per_image": {"max": max(per_image.values()), "min": min(per_image.values()), "images": len(per_image)},
               "attributed_to_replicas": attributed, "per_replica_requests": [len(lines) for lines in per_replica],
               "per_replica_metric": metrics, "max_per_image_per_replica": worst, "max_per_image_per_replica_by_kind": most_by_kind,
               "idle_rss_mib": [round(k / 1024, 1) for k in idle_rss], "peak_rss_mib": [round(k / 1024, 1) for k in peak_rss]}
    results["rollout"] = summary
    run.log(f"rollout: {len(made)} registry requests ({kinds}), per image per replica at most {worst}, "
            f"p99 {summary['latency_all']['p99_ms']:.1f} ms, errors {errors}, denied {len(denied)}, peak RSS {summary['peak_rss_mib']}")
    a, p = summary["latency_all"], summary["latency_pods"]
    lines = [
        f"Measured {run.now()} with load average {'{:.1f}, {:.1f}, {:.1f}'.format(*os.getloadavg())} (1, 5, 15 min) at the end, on "
        f"{os.cpu_count()} cores shared by the three replicas, the client, the proxies and docker-registry. {DEPLOYMENTS} Deployments "
        f"of {PODS} pods over {IMAGES} signed images named by tag (one in four Deployments has a second, sidecar, image); for each, "
        f"the reviews of the Deployment, its ReplicaSet and its Pods (owned by the ReplicaSet), the Pods in batches of "
        f"{', '.join(map(str, BATCHES))} as the ReplicaSet controller creates them. The Deployments are applied in {WAVES} waves "
        f"{WAVE_EVERY_S} s apart, {DEPLOYMENTS // WAVES} within {WAVE_SPREAD_S} s each (every wave names all {IMAGES} images); the "
        f"deployment and ReplicaSet controllers work on at most {CONTROLLER_WORKERS} objects at once each (kube-controller-manager's "
        f"default); each review goes to a replica chosen at random, `?timeout={TIMEOUT}`. Every replica starts with an empty "
        f"cache. The last review was sent {last_sent:.1f} s after the first, the last answer came at {duration:.1f} s; at most "
        f"{peak_in_flight} reviews were in flight at once.", "",
        "| measure | value |", "|---|---|",
        f"| reviews (Deployment, ReplicaSet, Pod) | {len(records):,} ({by_kind['Deployment']}, {by_kind['ReplicaSet']}, {by_kind['Pod']:,}) |",
        f"| reviews per replica | {', '.join(map(str, by_replica))} |",
        f"| errors (no answer, non-200) | {errors} |",
        f"| denied | {len(denied)} |",
        f"| admission latency, all reviews: p50 / p99 / max | {a['p50_ms']:.1f} / {a['p99_ms']:.1f} / {a['max_ms']:.1f} ms |",
        f"| admission latency, Pods: p50 / p99 / max | {p['p50_ms']:.1f} / {p['p99_ms']:.1f} / {p['max_ms']:.1f} ms |",
        f"| registry requests in all (docker-registry's access log) | {len(made):,}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + " |",
        f"| registry requests per image, all replicas | {min(per_image.values())} to {max(per_image.values())} over {len(per_image)} images |",
        f"| registry requests per replica (its proxy's log; signet's own counter) | "
        + ", ".join(f"{len(lines)} ({int(m)})" for lines, m in zip(per_replica, metrics)) + f"; {attributed:,} of {len(made):,} attributed |",
        f"| registry requests per image per replica, most | {worst} (target ≤ {TARGET_PER_IMAGE_PER_REPLICA}) |",
        "| of which, most of each kind for one image on one replica | " + ", ".join(f"{n} {k}" for k, n in sorted(most_by_kind.items())) + " |",
        f"| resident memory per replica, idle → peak (VmHWM) | " + ", ".join(f"{i} → {pk} MiB" for i, pk in zip(summary["idle_rss_mib"], summary["peak_rss_mib"])) + " |"]
    if most_by_kind.get("tag resolution", 0) > 1:
        lines += ["", "A replica keeps a tag's resolved digest for 60 s (`--tag-cache-ttl`, its default) and the verdict for the "
                  "digest for 10 minutes, so a wave that comes more than 60 s after a replica first resolved a tag has it "
                  "resolved again (one request) and finds the verdict in the cache"
                  + ("; the signature is fetched once per image and replica." if most_by_kind.get("signature manifest") == 1 else ".")]
    if denied or errors:
        lines += ["", "First refusals and errors:", ""] + [f"- {r['kind']} on replica {r['replica']}: {r['reason']}"
                                                          for r in [r for r in records if not r["allowed"]][:5]]
    results.setdefault("sections", []).append({"title": "A rollout at scale (3 replicas, 200 Deployments, 2,000 pods)", "lines": lines})
    exact = attributed == len(made)
    results.setdefault("extra_targets", []).extend([
        {"target": f"rollout: at most {TARGET_PER_IMAGE_PER_REPLICA} registry requests per image per replica",
         "measured": f"at most {worst} (images by tag); {len(made):,} in all for {IMAGES} images × {REPLICAS} replicas"
                     + ("" if exact else f"; only {attributed:,} of them attributed to a replica"),
         "met": "yes" if exact and worst is not None and worst <= TARGET_PER_IMAGE_PER_REPLICA else "no"},
        {"target": "rollout: every review answered and allowed (2,400 reviews within 60 s)",
         "measured": f"{errors} errors, {len(denied)} denied; p99 {a['p99_ms']:.1f} ms; peak RSS "
                     + ", ".join(f"{v} MiB" for v in summary["peak_rss_mib"]),
         "met": "yes" if errors == 0 and not denied and last_sent <= 60 else "no"}])
