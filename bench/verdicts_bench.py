"""Warm reviews answered from cached signature verdicts, beside nginx: what a cluster whose
policies verify signatures meets once its images are verified.

The throughput part's review is judged by a `static: pass` authority, which needs no verdict.
Here the same 3-container Deployment names three images signed with a cosign key, by digest,
under a `key` authority, verified once before the runs: every review is then decided from three
cached verdicts (looked up by digest, repository, policy and authority, their texts read back).
nginx answers the same request with signet's own answer to it, over TLS with the same
certificate. Runs alternate as in the throughput part; each figure is the median of the runs,
and signet / nginx the median of the ratios of each signet run to the nginx run beside it."""
import json
import os

import load
import registry_bench
import run

CONNECTIONS = (16, 64)


def signed_review(ws, registry, name="verdicts"):
    """A `key` policy over `<registry>/<name>/**` and the throughput part's Deployment naming
    three images signed with its key, by digest: (policy directory, review file, serve flags)."""
    key, public = registry_bench.make_key(ws, name)
    policy_dir = registry_bench.key_policy_dir(ws, name, f"{registry.host}/{name}/**", public)
    digests = load.push_signed_images(registry, [(f"{name}/app", f"v{index}", f"{name}-{index}") for index in range(3)], key)
    body = os.path.join(ws.dir, f"{name}-review.json")
    with open(body, "w") as f:
        json.dump(run.deployment_review([f"{registry.host}/{name}/app@{digest}" for digest in digests]), f)
    return policy_dir, body, ("--allow-insecure-registry", registry.host)


def measure(binary, ws, results, registry):
    policy_dir, body, extra = signed_review(ws, registry)
    signet = run.Signet(binary, ws, policy_dir=policy_dir, extra=extra)
    nginx = None
    try:
        response = signet.post("/validate?timeout=10s", open(body, "rb").read())
        answer = json.loads(response)["response"]
        if not answer["allowed"]:
            raise RuntimeError(f"verdicts: the review was denied: {load.denial_message(json.loads(response))}")
        nginx = run.Nginx(ws, response)
        table = {}
        for connections in CONNECTIONS:
            runs = run.alternating_runs(signet, nginx, ws, connections, body=body)
            row = {name: {"rps": run.spread([r["rps"] for r in runs[name]]),
                          "p99_ms": run.spread([r["p99_us"] / 1000 for r in runs[name]]),
                          "cpu_us_per_request": run.spread([r["cpu_us_per_request"] for r in runs[name]]),
                          "errors": sum(r["errors"] + r["non2xx"] for r in runs[name])} for name in runs}
            row["ratio"] = run.paired_ratio(runs)["median"]
            row["cpu_ratio"] = row["signet"]["cpu_us_per_request"]["median"] / row["nginx"]["cpu_us_per_request"]["median"]
            table[str(connections)] = row
            run.log(f"verdicts, {connections} connections: signet {row['signet']['rps']['median']:.0f} req/s "
                    f"({row['signet']['cpu_us_per_request']['median']:.0f} µs CPU each), nginx "
                    f"{row['nginx']['rps']['median']:.0f} req/s ({row['nginx']['cpu_us_per_request']['median']:.0f} µs) "
                    f"({row['ratio']:.0%})")
        hits = sum(float(line.rsplit(" ", 1)[1]) for line in signet.metrics().splitlines()
                   if line.startswith('signet_verification_cache_hits_total{cache="verification"'))
    finally:
        if nginx:
            nginx.stop()
        signet.stop()
    results["cached_verdicts"] = {"request_bytes": os.path.getsize(body), "response_bytes": len(response), "table": table,
                                  "cache_hits": hits}
    lines = [
        f"Measured {run.now()} on {os.cpu_count()} cores. The same Deployment as the throughput part "
        f"({os.path.getsize(body):,}-byte request) naming three signed images by digest under a `key` authority, verified "
        f"once before the runs; signet's answer ({len(response):,} bytes) is nginx's fixed response. {run.REPEATS} runs of "
        f"{run.DURATION} s per server and concurrency, alternating. Cache hits counted by signet over the runs: {hits:,.0f}.", "",
        "| connections | signet req/s | nginx req/s | signet / nginx | signet CPU µs/request | nginx CPU µs/request | CPU signet / nginx | signet p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|---|"]
    for connections, row in table.items():
        lines.append(f"| {connections} | {row['signet']['rps']['median']:,.0f} | {row['nginx']['rps']['median']:,.0f} "
                     f"| {row['ratio']:.0%} | {row['signet']['cpu_us_per_request']['median']:.1f} "
                     f"| {row['nginx']['cpu_us_per_request']['median']:.1f} | {row['cpu_ratio']:.1f}× "
                     f"| {row['signet']['p99_ms']['median']:.3f} | {row['signet']['errors'] + row['nginx']['errors']} |")
    results.setdefault("sections", []).append({"title": "Warm reviews from cached signature verdicts (key authority)", "lines": lines})
    short = [c for c, row in table.items() if row["ratio"] < 0.7]
    results.setdefault("extra_targets", []).append({
        "target": "warm throughput with cached signature verdicts ≥ 70% of nginx's",
        "measured": ", ".join(f"{c} conns: {row['ratio']:.0%}" for c, row in table.items()),
        "met": "yes" if not short else "no (below at " + ", ".join(f"{c} conns" for c in short) + ")"})
    costly = [c for c, row in table.items() if row["cpu_ratio"] > 2]
    results["extra_targets"].append({
        "target": "signet's CPU time per warm request with cached signature verdicts ≤ 2× nginx's",
        "measured": ", ".join(f"{c} conns: {row['cpu_ratio']:.1f}×" for c, row in table.items()),
        "met": "yes" if not costly else "no (above at " + ", ".join(f"{c} conns" for c in costly) + ")"})
