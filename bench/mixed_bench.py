"""Mixed load in `make bench`: warm reviews with wrk at 16 connections (as the throughput part
sends them) while cold verifications of new images arrive at 50 per second from a second client.

The registry is the loopback docker-registry behind bench/registry_proxy.py, which answers each
request 50 ms after it arrived (a registry that answers in 50 ms), and later passes nothing on
(a registry that accepts connections and never answers). MEMO: before the windows the bench asks
for every slow image's signature through the proxy once, and the proxy keeps the registry's
answers and gives them again from memory. docker-registry took about 2.5 ms of CPU per request
here (4.6 s of the 20 core-seconds of a 10 s window, measured with it answering directly), on
the two cores signet and wrk share; a real registry runs on other machines, and what this part
judges is whether signet's own cold work disturbs its warm answers. The warm review is a 3-container
Deployment whose images are signed, named by digest and verified once before the first window, so
every warm review is answered from the verification cache. Each cold review is a Pod naming one
image signet has not seen, named by digest: against the slow registry a distinct image pushed and
signed with the same key (two registry requests: the `.sig` manifest and its payload); against the
hanging one a distinct digest (the registry never answers, so nothing is pushed for it).

Windows of equal length, one after the other, in ROUNDS rounds: warm alone and warm with cold
against the slow registry, alternating (a warm-alone window first and last), then the same with
the hanging registry (each hanging window's cold reviews waited for before the next window).
The target compares the median warm p99 of the windows with each kind of cold load with the
median warm p99 of all the warm-alone windows interleaved with them: the p99 of one 10 s window
on two shared cores moved by a third between warm-alone windows with nothing changed, so one
window decides nothing, and the warm-alone windows spread over the whole run follow the
machine's drift. Each window with cold load is also shown beside the better (lower p99) of the
warm-alone windows on either side of it. The cold client sends
on a fixed schedule (open loop: it does not wait for an answer before sending the next) over
keep-alive connections, opening one when none is idle, and reads every answer's JSON; the warm
answers are counted by wrk (errors, non-200) and by signet's own review counter (denials)."""
import asyncio
import functools
import hashlib
import resource
import json
import os
import re

import load
import registry_bench
import run

WINDOW = int(os.environ.get("SIGNET_BENCH_MIXED_SECONDS", "10"))
ROUNDS = max(1, int(os.environ.get("SIGNET_BENCH_MIXED_ROUNDS", "3")))
RATE = 50
DELAY_MS = 50
CONNECTIONS = 16
# The chart's webhook.timeoutSeconds: the API server sends ?timeout=10s and signet gives itself 9 s.
TIMEOUT = "10s"
DEADLINE_S = 9
TARGET_P99_GROWTH = 0.20


def reviews_by_decision(metrics):
    """signet_admission_reviews_total summed by decision: {"allowed": n, "denied": n}."""
    totals = {"allowed": 0, "denied": 0}
    for line in metrics.splitlines():
        m = re.match(r'signet_admission_reviews_total\{.*decision="(allowed|denied)".*\} ([0-9.e+]+)$', line)
        if m:
            totals[m.group(1)] += float(m.group(2))
    return totals


def verification_time(before, after):
    """signet's own time for the verifications that passed between two scrapes, read off the
    `signet_verification_duration_seconds` histogram (bucket upper bounds)."""
    def passed(text):
        return "\n".join(line for line in text.splitlines() if 'outcome="passed"' in line)
    name = "signet_verification_duration_seconds"
    return run.histogram_quantiles(passed(after), name, since=run.histogram_buckets(passed(before), name))


async def cold_stream(client, references):
    """One review per reference at RATE per second on a fixed schedule; each answer classified."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks, lateness = [], []
    for index, reference in enumerate(references):
        due = start + index / RATE
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        lateness.append((loop.time() - due) * 1000)
        body = registry_bench.pod_review([reference], f"cold-{reference[-12:]}")
        tasks.append(asyncio.ensure_future(client.review(body, TIMEOUT, limit=DEADLINE_S + 20)))
    answers = await asyncio.gather(*tasks)
    outcome = {"sent": len(references), "allowed": 0, "denied": 0, "denied_at_deadline": 0, "errors": 0,
               "latency_ms": [], "reasons": {}, "late_send_ms_max": max(lateness) if lateness else 0}
    for status, answer, elapsed in answers:
        outcome["latency_ms"].append(elapsed)
        if status != 200:
            outcome["errors"] += 1
            outcome["reasons"][f"error: {answer}"[:160]] = outcome["reasons"].get(f"error: {answer}"[:160], 0) + 1
        elif answer["response"]["allowed"]:
            outcome["allowed"] += 1
        else:
            outcome["denied"] += 1
            message = load.denial_message(answer)
            if "deadline" in message:
                outcome["denied_at_deadline"] += 1
            key = load.reason_key(message)
            outcome["reasons"][key] = outcome["reasons"].get(key, 0) + 1
    # Answers to the first and to the last 2 s of sending apart: a queue that grows shows as the second slower.
    edge = min(len(references), 2 * RATE)
    outcome["latency_first_2s"] = load.latency_summary(outcome["latency_ms"][:edge])
    outcome["latency_last_2s"] = load.latency_summary(outcome["latency_ms"][-edge:])
    outcome["latency"] = load.latency_summary(outcome.pop("latency_ms"))
    return outcome


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def window(server, ws, warm_body, client, references, helpers):
    """wrk for WINDOW seconds and, with `references`, the cold stream beside it. The CPU time
    signet, this client and `helpers` (the proxy, docker-registry) used."""
    loop = asyncio.get_running_loop()
    def sample():
        return [run.cpu_seconds(server.pids()), own_cpu_seconds()] + [run.cpu_seconds([pid]) for pid in helpers]
    cpu, start = sample(), loop.time()
    scrape = server.metrics()
    before = reviews_by_decision(scrape)
    warm = loop.run_in_executor(None, functools.partial(run.run_wrk, server.port, ws, CONNECTIONS, duration=WINDOW, body=warm_body))
    cold = await cold_stream(client, references) if references else None
    warm = await warm
    scraped = server.metrics()
    after = reviews_by_decision(scraped)
    warm["denied"] = int(after["denied"] - before["denied"] - (cold["denied"] if cold else 0))
    if cold:
        cold["verification_time"] = verification_time(scrape, scraped)
    used = [after_s - before_s for after_s, before_s in zip(sample(), cpu)]
    usage = {"seconds": loop.time() - start, "signet_cpu_s": used[0], "client_cpu_s": used[1], "proxy_cpu_s": used[2],
             "registry_cpu_s": used[3]}
    return {"warm": warm, "cold": cold, "cpu": usage}


def push(registry, key, name, count):
    images = [(f"mixed/{name}", f"{name}-{index}", f"mixed-{name}-{index}") for index in range(count)]
    return load.push_signed_images(registry, images, key)


def measure(binary, ws, results, registry):
    key, public = registry_bench.make_key(ws, "mixed")
    proxy = load.RegistryProxy(ws, registry, "mixed", delay_ms=DELAY_MS, memo=True)
    server = None
    try:
        policy_dir = registry_bench.key_policy_dir(ws, "mixed", f"{proxy.host}/**", public)
        warm_digests = push(registry, key, "warm", 3)
        slow_digests = push(registry, key, "slow", RATE * WINDOW * ROUNDS)
        # Never answered, so never pushed: distinct digests no one has seen.
        hang_digests = ["sha256:" + hashlib.sha256(f"mixed-hang-{index}".encode()).hexdigest()
                        for index in range(RATE * WINDOW * ROUNDS)]
        warm_body = os.path.join(ws.dir, "mixed-warm.json")
        with open(warm_body, "w") as f:
            json.dump(run.deployment_review([f"{proxy.host}/mixed/warm@{d}" for d in warm_digests]), f)
        run.log(f"mixed: pushed {3 + RATE * WINDOW * ROUNDS} signed images")
        # The proxy answers the slow window's signature requests from memory (see MEMO).
        proxy.remember_signatures("mixed/slow", slow_digests)
        # The clients stand for the API server: a reserved peer, as the chart makes the control plane.
        server = run.Signet(binary, ws, policy_dir=policy_dir,
                            extra=("--allow-insecure-registry", proxy.host, "--reserved-peers", "127.0.0.1/32"))
        first = json.loads(server.post(f"/validate?timeout={TIMEOUT}", open(warm_body, "rb").read()))
        if not first["response"]["allowed"]:
            raise RuntimeError(f"mixed: the warm review was denied: {load.denial_message(first)}")
        requests_before = len(proxy.requests())
        client = load.AdmissionClient(server.port, ws.cert)
        helpers = [proxy.process.pid, registry.process.pid]

        per_window = RATE * WINDOW

        async def sequence():
            windows = {}
            alone = 0

            async def warm_alone():
                nonlocal alone
                alone += 1
                windows[f"warm alone {alone}"] = await window(server, ws, warm_body, client, None, helpers)

            await warm_alone()
            for index in range(ROUNDS):
                batch = slow_digests[index * per_window:(index + 1) * per_window]
                windows[f"slow registry {index + 1}"] = await window(
                    server, ws, warm_body, client, [f"{proxy.host}/mixed/slow@{d}" for d in batch], helpers)
                await warm_alone()
            made = proxy.requests()[requests_before:]
            proxy.hang()
            for index in range(ROUNDS):
                batch = hang_digests[index * per_window:(index + 1) * per_window]
                windows[f"hanging registry {index + 1}"] = await window(
                    server, ws, warm_body, client, [f"{proxy.host}/mixed/hang@{d}" for d in batch], helpers)
                await warm_alone()
            return windows, made

        windows, slow_requests = asyncio.run(sequence())
        connections_opened = client.opened
        rss = run.rss_kib(server.process.pid, "VmHWM")
    finally:
        if server:
            server.stop()
        proxy.stop()
    report(results, windows, slow_requests, connections_opened, rss)


def cold_windows(windows, kind):
    """The names of the windows with cold load against `kind` ("slow registry", "hanging registry")."""
    return [name for name in windows if name.startswith(kind)]


def baselines(windows):
    """For each window with cold load, the better (lower) warm p99 of the warm-alone windows on
    either side of it, in ms."""
    names = list(windows)
    found = {}
    for position, name in enumerate(names):
        if windows[name]["cold"]:
            beside = [names[i] for i in (position - 1, position + 1) if 0 <= i < len(names) and not windows[names[i]]["cold"]]
            found[name] = min(windows[n]["warm"]["p99_us"] for n in beside) / 1000
    return found


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def combined(windows, names):
    """The cold outcomes of several windows added up; latencies as the worst window's."""
    total = {"sent": 0, "allowed": 0, "denied": 0, "denied_at_deadline": 0, "errors": 0, "reasons": {}}
    for name in names:
        c = windows[name]["cold"]
        for field in ("sent", "allowed", "denied", "denied_at_deadline", "errors"):
            total[field] += c[field]
        for reason, count in c["reasons"].items():
            total["reasons"][reason] = total["reasons"].get(reason, 0) + count
    total["p50_ms"] = max(windows[name]["cold"]["latency"]["p50_ms"] for name in names)
    total["p99_ms"] = max(windows[name]["cold"]["latency"]["p99_ms"] for name in names)
    total["max_ms"] = max(windows[name]["cold"]["latency"]["max_ms"] for name in names)
    return total


def report(results, windows, slow_requests, connections_opened, rss_peak_kib):
    remembered = sum(1 for line in slow_requests if line.endswith(" memo"))
    for name, data in windows.items():
        w, c = data["warm"], data["cold"]
        run.log(f"mixed {name}: warm {w['rps']:.0f} req/s p99 {w['p99_us'] / 1000:.2f} ms errors {w['errors'] + w['non2xx']}"
                + (f"; cold {c['sent']} sent, {c['allowed']} allowed, {c['denied']} denied ({c['denied_at_deadline']} at the deadline), "
                   f"{c['errors']} errors, p50 {c['latency']['p50_ms']:.0f} ms p99 {c['latency']['p99_ms']:.0f} ms" if c else ""))

    comparisons = baselines(windows)
    growth = {name: windows[name]["warm"]["p99_us"] / 1000 / comparisons[name] - 1 for name in comparisons}
    kinds = ("slow registry", "hanging registry")
    alone_p99 = [data["warm"]["p99_us"] / 1000 for data in windows.values() if not data["cold"]]
    alone_median = median(alone_p99)
    kind_median = {kind: median([windows[name]["warm"]["p99_us"] / 1000 for name in cold_windows(windows, kind)]) for kind in kinds}
    median_growth = {kind: kind_median[kind] / alone_median - 1 for kind in kinds}
    warm_errors = sum(d["warm"]["errors"] + d["warm"]["non2xx"] + d["warm"]["denied"] for d in windows.values())
    slow_sent = sum(windows[name]["cold"]["sent"] for name in cold_windows(windows, "slow registry"))
    results["mixed"] = {"window_seconds": WINDOW, "rounds": ROUNDS, "cold_per_second": RATE, "registry_delay_ms": DELAY_MS,
                        "connections": CONNECTIONS, "windows": windows, "baseline_p99_ms": comparisons,
                        "warm_p99_growth_beside": growth, "warm_alone_median_p99_ms": alone_median,
                        "median_p99_ms": kind_median, "median_warm_p99_growth": median_growth,
                        "registry_requests_slow_windows": len(slow_requests),
                        "registry_requests_slow_windows_from_memory": remembered, "cold_connections_opened": connections_opened,
                        "peak_rss_mib": round(rss_peak_kib / 1024, 1)}
    lines = [
        f"Measured {run.now()} with load average {'{:.1f}, {:.1f}, {:.1f}'.format(*os.getloadavg())} (1, 5, 15 min) at the end, "
        f"on {os.cpu_count()} cores shared by wrk, the cold client, the proxy, docker-registry and signet. Windows of {WINDOW} s "
        f"in this order ({ROUNDS} rounds of each kind of cold load). Warm: wrk, {CONNECTIONS} connections, a 3-container "
        f"Deployment of signed images named by digest, verified once before the first window (every warm review is a cache "
        f"hit). Cold: a second client sending a Pod naming one new image (a distinct digest; pushed and signed for the slow "
        f"windows, never pushed for the hanging ones) every {1000 // RATE} ms on a fixed schedule, with "
        f"`?timeout={TIMEOUT}` as the chart's webhook sends it (signet's deadline: {DEADLINE_S} s), over keep-alive connections "
        f"({connections_opened} opened in all). The registry (docker-registry behind a proxy in Python) answers each request "
        f"{DELAY_MS} ms after it was sent, then, in the hanging windows, accepts connections and never answers. "
        "The proxy answers the slow windows' requests from memory: it was asked for every slow image's signature once "
        "before the windows and keeps docker-registry's answers, so docker-registry's own CPU time (about 2.5 ms per "
        "request when it answered them itself, 4.6 s of a 10 s window on these 2 cores) is not taken from signet and "
        "wrk; a real registry runs on other machines.", "",
        "| window | warm req/s | warm p50 ms | warm p99 ms | warm p99 beside the better warm-alone window around it | warm errors (wrk, non-200, denied) "
        "| cold sent | cold allowed | cold denied (at the deadline) | cold errors | cold p50 ms | cold p99 ms "
        "| CPU s: signet; cold client, proxy, registry (in s of wall time) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, data in windows.items():
        w, c = data["warm"], data["cold"]
        versus = f"{growth[name]:+.0%} (vs {comparisons[name]:.2f} ms)" if name in comparisons else ""
        u = data["cpu"]
        cold = (f"| {c['sent']} | {c['allowed']} | {c['denied']} ({c['denied_at_deadline']}) | {c['errors']} "
                f"| {c['latency']['p50_ms']:.1f} | {c['latency']['p99_ms']:.1f} " if c else "| | | | | | ")
        cold += (f"| {u['signet_cpu_s']:.1f}; {u['client_cpu_s']:.1f}, {u['proxy_cpu_s']:.1f}, {u['registry_cpu_s']:.1f} "
                 f"({u['seconds']:.0f}) |")
        lines.append(f"| {name} | {w['rps']:,.0f} | {w['p50_us'] / 1000:.2f} | {w['p99_us'] / 1000:.2f} | {versus} "
                     f"| {w['errors']} + {w['non2xx']} + {w['denied']} {cold}")
    late = max(windows[name]["cold"]["late_send_ms_max"] for name in comparisons)
    lines += ["", f"Registry requests during the slow windows (as the proxy received them): {len(slow_requests):,} for "
              f"{slow_sent:,} cold reviews, {remembered:,} of them answered from the proxy's memory. Peak resident memory of "
              f"signet over the run: {rss_peak_kib / 1024:.1f} MiB. The cold client sent each review at most {late:.0f} ms "
              "after its scheduled time. The cold side (this client, the registry proxy and docker-registry) runs on the same "
              "cores as wrk and signet, so its CPU time, in the last column, is taken from them.", "",
              "Cold latency of the reviews sent in the first and in the last 2 s of a window (p50 / p99), which tells a "
              "steady state from a queue that grows:", ""]
    for name in comparisons:
        c = windows[name]["cold"]
        lines.append(f"- {name}: first 2 s {c['latency_first_2s']['p50_ms']:.0f} / {c['latency_first_2s']['p99_ms']:.0f} ms, "
                     f"last 2 s {c['latency_last_2s']['p50_ms']:.0f} / {c['latency_last_2s']['p99_ms']:.0f} ms")
    timed = [(name, windows[name]["cold"].get("verification_time")) for name in cold_windows(windows, "slow registry")]
    if all(v for _, v in timed):
        lines += ["", "signet's own time for the verifications that passed in each slow window (the "
                  "`signet_verification_duration_seconds` histogram; upper bounds of its buckets): "
                  + "; ".join(f"{name}: {v['count']}, p50 {run.fmt_bound(v['p50_le_seconds'])}, p99 {run.fmt_bound(v['p99_le_seconds'])}"
                              for name, v in timed)
                  + ". Whatever a cold review took beyond that was spent outside the verification (the client's connection "
                  "and TLS handshake, reading, deciding and answering the review, each process waiting for a core)."]
    totals = {kind: combined(windows, cold_windows(windows, kind)) for kind in kinds}
    lines += ["", "Reasons of the cold denials (digests elided), with their counts over the windows of each kind:", ""]
    for kind in kinds:
        for reason, count in sorted(totals[kind]["reasons"].items(), key=lambda item: -item[1]):
            lines.append(f"- {kind}, {count}×: {reason}")
        if not totals[kind]["reasons"]:
            lines.append(f"- {kind}: none")
    results.setdefault("sections", []).append({"title": "Mixed load: warm reviews while cold verifications arrive", "lines": lines})

    targets = []
    for kind in kinds:
        each = ", ".join(f"{windows[name]['warm']['p99_us'] / 1000:.2f}" for name in cold_windows(windows, kind))
        targets.append({"target": f"mixed, {kind}: warm p99 within 20% of warm alone (medians of the {ROUNDS} windows with "
                                  f"cold load and of all {len(alone_p99)} warm-alone windows of the run)",
                        "measured": f"{kind_median[kind]:.2f} ms vs {alone_median:.2f} ms ({median_growth[kind]:+.0%}); windows "
                                    f"{each} ms; warm alone {min(alone_p99):.2f}..{max(alone_p99):.2f} ms",
                        "met": "yes" if median_growth[kind] <= TARGET_P99_GROWTH else "no"})
    targets.append({"target": "mixed: no warm errors (wrk errors, non-200 answers, denials) in any window",
                    "measured": f"{warm_errors}", "met": "yes" if warm_errors == 0 else "no"})
    c = totals["slow registry"]
    targets.append({"target": f"mixed, slow registry ({DELAY_MS} ms): every cold review allowed",
                    "measured": f"{c['allowed']} of {c['sent']} allowed, {c['denied']} denied, {c['errors']} errors; "
                                f"p50 {c['p50_ms']:.0f} ms, p99 {c['p99_ms']:.0f} ms (the worst window's)",
                    "met": "yes" if c["allowed"] == c["sent"] else "no"})
    c = totals["hanging registry"]
    hanging_p50 = min(windows[name]["cold"]["latency"]["p50_ms"] for name in cold_windows(windows, "hanging registry"))
    at_deadline = c["denied_at_deadline"] == c["sent"] and c["max_ms"] < (DEADLINE_S + 1) * 1000 \
        and hanging_p50 >= DEADLINE_S * 1000 * 0.95
    targets.append({"target": f"mixed, hanging registry: every cold review denied at the deadline ({DEADLINE_S} s) naming it",
                    "measured": f"{c['denied_at_deadline']} of {c['sent']} denied naming the deadline, {c['errors']} errors; "
                                f"p50 {hanging_p50 / 1000:.2f} s (the lowest window's), max {c['max_ms'] / 1000:.2f} s",
                    "met": "yes" if at_deadline else "no"})
    results.setdefault("extra_targets", []).extend(targets)
