"""Memory with 100,000 cached verdicts in `make bench`: resident memory of one `signet serve` as its
verification cache fills, and the growth per verdict.

The verdicts are made as the registry part makes its 10,000: reviews of pods naming digest-pinned
images that have no signature, each verdict a negative one stored in the cache. To make 100,000
quickly, each review names 1,000 images, a few reviews are in flight at once, and the registry is
Debian's nginx answering every request with the registry's 404 (a registry that holds no signature
of anything), which answers faster than docker-registry, the fill's limit in the registry part.
The server is given a cache whose room for failures (a quarter of `--verification-cache-size`:
failures are kept for the credentials that found them, apart from the passes) holds 100,000
results, and a negative-verdict lifetime longer than the run, so none is evicted or expires while it is measured; evictions are checked in its metrics,
and images reviewed again are answered from the cache without a registry request."""
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import load
import registry_bench
import run

VERDICTS = 100_000
PER_REVIEW = 1_000
IN_FLIGHT = 3
CHECKPOINT = 10_000
TARGET_MB = 200
NOT_FOUND = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'


def image(host, index):
    return f"{host}/bench/unsigned@sha256:" + hashlib.sha256(f"memory-{index}".encode()).hexdigest()


def measure(binary, ws, results, registry):
    _, public = registry_bench.make_key(ws, "memory")
    nginx = run.Nginx(ws, NOT_FOUND, status=404, tls=False)
    host = f"127.0.0.1:{nginx.port}"
    server = None
    try:
        policy_dir = registry_bench.key_policy_dir(ws, "memory", f"{host}/**", public)
        server = run.Signet(binary, ws, policy_dir=policy_dir,
                            extra=("--allow-insecure-registry", host, "--verification-cache-size", str(4 * VERDICTS),
                                   "--verification-negative-cache-ttl", "1h", "--reserved-peers", "127.0.0.1/32"))
        checkpoints = [(0, run.rss_kib(server.process.pid))]
        denied, other, reasons = 0, 0, {}

        def review(batch):
            answer = json.loads(server.post("/validate?timeout=30s", registry_bench.pod_review(
                [image(host, batch * PER_REVIEW + i) for i in range(PER_REVIEW)], f"mem{batch}")))
            return answer

        started = time.perf_counter()
        batches = VERDICTS // PER_REVIEW
        per_checkpoint = CHECKPOINT // PER_REVIEW
        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            for first in range(0, batches, per_checkpoint):
                for answer in pool.map(review, range(first, min(batches, first + per_checkpoint))):
                    if answer["response"]["allowed"]:
                        other += 1
                    else:
                        denied += 1
                        key = load.reason_key(load.denial_message(answer), 240)
                        reasons[key] = reasons.get(key, 0) + 1
                checkpoints.append((min(batches, first + per_checkpoint) * PER_REVIEW, run.rss_kib(server.process.pid)))
                run.log(f"memory: {checkpoints[-1][0]:,} verdicts, {checkpoints[-1][1] / 1024:.1f} MiB, "
                        f"{time.perf_counter() - started:.1f} s")
        fill_seconds = time.perf_counter() - started
        metrics = server.metrics()
        misses = registry_bench.metric(metrics, 'signet_verification_cache_misses_total{cache="verification"}')
        evictions = registry_bench.metric(metrics, 'signet_verification_cache_evictions_total{cache="verification"}')
        requests = registry_bench.metric(metrics, "signet_registry_requests_total")
        # The first image of every tenth review again: cache hits, no registry request.
        hits_before = registry_bench.metric(metrics, 'signet_verification_cache_hits_total{cache="verification"}')
        again = [image(host, batch * PER_REVIEW) for batch in range(0, batches, 10)]
        server.post("/validate?timeout=30s", registry_bench.pod_review(again, "again"))
        metrics = server.metrics()
        hits = registry_bench.metric(metrics, 'signet_verification_cache_hits_total{cache="verification"}') - hits_before
        requests_again = registry_bench.metric(metrics, "signet_registry_requests_total") - requests
        rss_final = run.rss_kib(server.process.pid)
    finally:
        if server:
            server.stop()
        nginx.stop()
    report(results, checkpoints, fill_seconds, denied, other, reasons, misses, evictions, requests, len(again), hits, requests_again, rss_final)


def report(results, checkpoints, fill_seconds, denied, other, reasons, misses, evictions, requests, again, hits, requests_again, rss_final):
    base = checkpoints[0][1]
    full = checkpoints[-1][1]
    half = next(kib for count, kib in checkpoints if count >= VERDICTS // 2)
    growth = (full - base) * 1024 / VERDICTS
    marginal = (full - half) * 1024 / (VERDICTS - VERDICTS // 2)
    held = misses == VERDICTS and evictions == 0 and hits == again and requests_again == 0
    results["memory_100k"] = {"checkpoints": [{"verdicts": c, "rss_mib": round(k / 1024, 1)} for c, k in checkpoints],
                              "growth_per_verdict_bytes": round(growth), "growth_per_verdict_second_half_bytes": round(marginal),
                              "fill_seconds": round(fill_seconds, 1), "reviews_denied": denied, "reviews_allowed": other,
                              "cache_misses": misses, "cache_evictions": evictions, "registry_requests": requests,
                              "reviewed_again": again, "hits_again": hits, "registry_requests_again": requests_again}
    run.log(f"memory: {full / 1024:.1f} MiB with {VERDICTS:,} cached verdicts ({growth:.0f} bytes each), filled in {fill_seconds:.1f} s")
    lines = [
        f"Measured {run.now()} with load average {'{:.1f}, {:.1f}, {:.1f}'.format(*os.getloadavg())} (1, 5, 15 min) at the end. "
        f"One `signet serve` (`--verification-cache-size {4 * VERDICTS}`, whose quarter for failures holds {VERDICTS:,}, "
        f"`--verification-negative-cache-ttl 1h`, so nothing is evicted "
        f"or expires during the run) reviewed {VERDICTS // PER_REVIEW} pods of {PER_REVIEW:,} digest-pinned images each, "
        f"{IN_FLIGHT} reviews in flight at once, against a registry that has no signature of any of them (nginx answering every "
        f"request with the registry's 404): every image gets a negative verdict, which the cache keeps. The fill took "
        f"{fill_seconds:.1f} s and {int(requests):,} registry requests; {denied} reviews were denied (no signature), {other} allowed.", "",
        "| cached verdicts | resident (VmRSS) |", "|---|---|"]
    lines += [f"| {count:,} | {kib / 1024:.1f} MiB |" for count, kib in checkpoints]
    lines += ["", f"Growth per cached verdict, everything the fill left resident included: {growth:,.0f} bytes over the whole "
              f"fill, {marginal:,.0f} bytes over the second half. The cache counted {int(misses):,} misses (one per image) and "
              f"{int(evictions)} evictions; {again} of the images reviewed again afterwards were {int(hits)} cache hits with "
              f"{int(requests_again)} registry requests. Resident after that review: {rss_final / 1024:.1f} MiB."]
    if reasons:
        reason, count = max(reasons.items(), key=lambda item: item[1])
        lines += ["", f"The denial of a fill review ({count} of {denied} alike), shortened: {reason}"]
    results.setdefault("sections", []).append({"title": "Memory with 100,000 cached verdicts", "lines": lines})
    results.setdefault("extra_targets", []).append({
        "target": f"memory < {TARGET_MB} MB with {VERDICTS:,} cached verdicts",
        "measured": f"{full * 1024 / 1e6:.1f} MB ({full / 1024:.1f} MiB) resident, {growth:,.0f} bytes per verdict"
                    + ("" if held else "; the cache did not hold every verdict (see the section)"),
        "met": "yes" if full * 1024 < TARGET_MB * 1e6 and held else "no"})
