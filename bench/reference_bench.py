"""signet beside the reference Sigstore verifier: the same sigstore-conformance bundles
(`Tests/Vectors/sigstore-conformance`), each with its own custom `trusted_root.json`, verified
offline by `signet verify-bundle` and by `sigstore verify identity --offline` (sigstore-python,
from PyPI), whole process against whole process, runs alternating.

sigstore-python reads its trust from a client trust configuration: the case's trusted root plus
a signing configuration, which offline verification never uses (its URLs are placeholders that
nothing contacts). The `sigstore` executable comes from SIGNET_BENCH_SIGSTORE, else
`.build/bench-venv/bin/sigstore` (`make bench` installs it there)."""
import json
import os
import subprocess

import formats_bench
import notary_bench
import run

RUNS = int(os.environ.get("SIGNET_BENCH_REFERENCE_RUNS", "5"))
TARGET = 10
# Keyless bundles sigstore-python verifies offline (it does not verify bundles whose Rekor
# entry is of the `intoto` kind, nor key-based bundles from its command line).
CASES = [
    ("bundle-with-sct-with-extensions", "keyless message signature, v0.3, Rekor v1 inclusion proof, SCT, RFC 3161 timestamp"),
    ("rekor2-happy-path", "keyless message signature, v0.3, Rekor v2, RFC 3161 timestamp"),
    ("rekor2-dsse-happy-path", "keyless DSSE (in-toto SLSA statement), v0.3, Rekor v2, RFC 3161 timestamp"),
]


def sigstore_executable():
    candidate = os.environ.get("SIGNET_BENCH_SIGSTORE") or os.path.join(run.ROOT, ".build", "bench-venv", "bin", "sigstore")
    return candidate if os.access(candidate, os.X_OK) else None


def trust_config(ws, case):
    """A sigstore-python client trust configuration holding the case's trusted root."""
    placeholder = {"validFor": {"start": "2020-01-01T00:00:00Z"}, "majorApiVersion": 1, "operator": "signet.bench"}
    signing = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
               "caUrls": [{"url": "https://fulcio.invalid", **placeholder}],
               "oidcUrls": [{"url": "https://oauth2.invalid", **placeholder}],
               "rekorTlogUrls": [{"url": "https://rekor.invalid", **placeholder}],
               "rekorTlogConfig": {"selector": "ANY"}, "tsaUrls": [], "tsaConfig": {"selector": "ANY"}}
    path = os.path.join(ws.dir, f"trust-config-{case}.json")
    with open(path, "w") as f:
        json.dump({"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                   "trustedRoot": json.load(open(formats_bench.conformance(case, "trusted_root.json"))),
                   "signingConfig": signing}, f)
    return path


def measure(binary, ws, results):
    sigstore = sigstore_executable()
    rows = []
    if sigstore is None:
        run.log("reference: no sigstore executable (make bench installs it in .build/bench-venv); Sigstore comparison skipped")
    for case, description in CASES if sigstore else []:
        bundle = formats_bench.conformance(case, "bundle.sigstore.json")
        root = formats_bench.conformance(case, "trusted_root.json")
        artifact = formats_bench.artifact_of(case)
        config = trust_config(ws, case)
        commands = {
            "signet": [binary, "verify-bundle", "--bundle", bundle, "--certificate-identity", formats_bench.IDENTITY,
                       "--certificate-oidc-issuer", formats_bench.ISSUER, "--trusted-root", root, artifact],
            "sigstore": [sigstore, "--trust-config", config, "verify", "identity", "--offline", "--bundle", bundle,
                         "--cert-identity", formats_bench.IDENTITY, "--cert-oidc-issuer", formats_bench.ISSUER, artifact],
        }
        wall = {"signet": [], "sigstore": []}
        cpu = {"signet": [], "sigstore": []}
        for repeat in range(RUNS):
            order = ("signet", "sigstore") if repeat % 2 == 0 else ("sigstore", "signet")
            for name in order:
                elapsed, used, code, output = notary_bench.timed_process(commands[name])
                if code != 0:
                    raise RuntimeError(f"{name} did not verify {case}: {output[-600:]}")
                wall[name].append(elapsed)
                cpu[name].append(used)
        row = {"case": case, "description": description,
               "signet_ms": run.spread(wall["signet"]), "sigstore_ms": run.spread(wall["sigstore"]),
               "signet_cpu_ms": run.spread(cpu["signet"]), "sigstore_cpu_ms": run.spread(cpu["sigstore"])}
        row["ratio_wall"] = row["sigstore_ms"]["median"] / row["signet_ms"]["median"]
        row["ratio_cpu"] = row["sigstore_cpu_ms"]["median"] / row["signet_cpu_ms"]["median"]
        rows.append(row)
        run.log(f"reference {case}: signet {row['signet_ms']['median']:.0f} ms ({row['signet_cpu_ms']['median']:.0f} ms CPU), "
                f"sigstore-python {row['sigstore_ms']['median']:.0f} ms ({row['sigstore_cpu_ms']['median']:.0f} ms CPU): "
                f"{row['ratio_wall']:.1f}×")
    version = ""
    if sigstore:
        version = subprocess.run([sigstore, "--version"], capture_output=True, text=True).stdout.strip()
    results["reference_sigstore"] = {"load_average": notary_bench.load_average(), "runs": RUNS, "sigstore": version, "rows": rows}
    lines = [f"Measured {run.now()} with load average {results['reference_sigstore']['load_average']} (1, 5, 15 min) on "
             f"{os.cpu_count()} cores; {version or 'sigstore-python not installed'}. Each bundle is a sigstore-conformance vector "
             "with its own custom trusted root, verified offline by both, whole process against whole process, "
             f"{RUNS} runs each, alternating. CPU time is user + system of the process (from the kernel's accounting "
             "of the child), the figure other load on the machine moves least.", "",
             f"| bundle | signet verify-bundle | sigstore verify identity --offline | sigstore / signet (wall) | CPU: signet | CPU: sigstore | sigstore / signet (CPU) | target ≥ {TARGET}× |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row['case']}`: {row['description']} | {row['signet_ms']['median']:.0f} ms (max {row['signet_ms']['max']:.0f}) "
                     f"| {row['sigstore_ms']['median']:.0f} ms (max {row['sigstore_ms']['max']:.0f}) | {row['ratio_wall']:.1f}× "
                     f"| {row['signet_cpu_ms']['median']:.0f} ms | {row['sigstore_cpu_ms']['median']:.0f} ms | {row['ratio_cpu']:.1f}× "
                     f"| {'met' if row['ratio_wall'] >= TARGET else 'not met'} |")
    lines += ["", "```",
              "signet verify-bundle --bundle CASE/bundle.sigstore.json --certificate-identity ID --certificate-oidc-issuer ISSUER \\",
              "    --trusted-root CASE/trusted_root.json a.txt",
              "sigstore --trust-config trust-config.json verify identity --offline --bundle CASE/bundle.sigstore.json \\",
              "    --cert-identity ID --cert-oidc-issuer ISSUER a.txt   # trust-config.json: CASE's trusted root",
              "```"]
    results.setdefault("sections", []).append({"title": "Sigstore bundles beside sigstore-python (whole process)", "lines": lines})
    for row in rows:
        results.setdefault("extra_targets", []).append({
            "target": f"Sigstore bundle `{row['case']}`: signet ≥ {TARGET}× faster than sigstore-python (whole process, wall time)",
            "measured": f"{row['ratio_wall']:.1f}× ({row['signet_ms']['median']:.0f} vs {row['sigstore_ms']['median']:.0f} ms; "
                        f"CPU {row['ratio_cpu']:.1f}×)",
            "met": "yes" if row["ratio_wall"] >= TARGET else "no"})
