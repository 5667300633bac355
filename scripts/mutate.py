#!/usr/bin/env python3
"""`make mutate`: break one security check at a time and see whether a test notices.

Each mutation below replaces one exact piece of code with a version that skips or weakens a
check. For each, in a scratch worktree of HEAD (the checkout itself is never touched), the
script applies the mutation, builds the tests, runs the suites that should catch it, and
reports the mutation as **caught** (a test failed), **survived** (every test passed: a check
no test needs) or **stale** (the code to mutate is no longer there: update the list). It
writes MUTATIONS.md and exits 1 unless every mutation is caught.

Add a mutation: append a `Mutation` with the file, the exact text to replace (it must occur
once), the replacement, the suites to run (a `swift test --filter` expression) and what the
check guards. Run one: `make mutate ONLY=<id>`.
"""
import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


@dataclasses.dataclass
class Mutation:
    id: str
    guards: str
    file: str
    find: str
    replace: str
    suites: str


MUTATIONS = [
    Mutation("sigstore-message-signature", "a bundle's message signature verifies with the signer's key",
             "Sources/SignetSigstore/SigstoreVerifier+Signature.swift",
             "            guard valid else {\n                throw SigstoreVerificationFailure(.signature(\"the message signature does not verify",
             "            guard valid || true else {\n                throw SigstoreVerificationFailure(.signature(\"the message signature does not verify",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("cosign-manifest-digest", "a cosign payload signs the image's own digest",
             "Sources/SignetVerify/CosignKeyVerifier.swift",
             "guard payload.dockerManifestDigest == digest.description else {",
             "guard payload.dockerManifestDigest == digest.description || true else {",
             "SignetVerifyTests"),
    Mutation("cosign-threshold", "the threshold of distinct keys is met",
             "Sources/SignetVerify/CosignKeyVerifier.swift",
             "let met = signers.count >= trust.threshold",
             "let met = signers.count >= min(trust.threshold, 1)",
             "SignetVerifyTests"),
    Mutation("keyless-issuer", "a certificate's OIDC issuer matches the policy",
             "Sources/SignetSigstore/CertificateIdentity.swift",
             "guard issuer.matches(issuerValue) else {",
             "guard issuer.matches(issuerValue) || true else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("keyless-subject", "a certificate's subject (SAN) matches the policy",
             "Sources/SignetSigstore/CertificateIdentity.swift",
             "guard subjectAlternativeName.matches(san) else {",
             "guard subjectAlternativeName.matches(san) || true else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("registry-content-digest", "content fetched by digest hashes to that digest",
             "Sources/SignetRegistry/RegistryClient+Manifests.swift",
             "        guard actual == digest.encoded else {",
             "        guard actual == digest.encoded || true else {",
             "SignetRegistryTests|SignetVerifyTests"),
    Mutation("exception-expiry", "a PolicyException stops applying at validUntil",
             "Sources/SignetPolicy/Exemptions/CompiledException.swift",
             "public func isActive(at now: Date) -> Bool { now < validUntil }",
             "public func isActive(at now: Date) -> Bool { true }",
             "SignetPolicyTests|SignetAdmissionTests"),
    Mutation("exception-namespace", "a PolicyException applies in its own namespace only",
             "Sources/SignetPolicy/Exemptions/CompiledException.swift",
             "guard subject.namespace == namespace else { return false }",
             "guard subject.namespace == namespace || true else { return false }",
             "SignetPolicyTests|SignetAdmissionTests"),
    Mutation("bypass-expiry", "an EmergencyBypass stops applying at expiresAt",
             "Sources/SignetPolicy/Exemptions/CompiledBypass.swift",
             "now < expiresAt && ",
             "",
             "SignetPolicyTests|SignetAdmissionTests"),
]


def run(args, cwd, log, timeout):
    with open(log, "ab") as out:
        return subprocess.run(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation ids")
    parser.add_argument("--output", default=os.path.join(ROOT, "MUTATIONS.md"))
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only.split(",")]

    scratch = tempfile.mkdtemp(prefix="signet-mutate-")
    tree = os.path.join(scratch, "tree")
    log = os.path.join(scratch, "log.txt")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, "HEAD"], check=True, capture_output=True)
    results = []
    try:
        env_binary = os.path.join(tree, ".build", "debug", "signet")
        os.environ["SIGNET_BINARY"] = env_binary
        print("building the unmutated tree once", flush=True)
        if run(["swift", "build", "--build-tests"], tree, log, 3600) != 0:
            sys.exit(f"the unmutated tree does not build; see {log}")
        for mutation in chosen:
            path = os.path.join(tree, mutation.file)
            original = open(path).read()
            started = time.monotonic()
            if original.count(mutation.find) != 1:
                results.append((mutation, "stale", 0.0))
                print(f"{mutation.id}: stale (the code to mutate is not found exactly once)", flush=True)
                continue
            open(path, "w").write(original.replace(mutation.find, mutation.replace))
            try:
                if run(["swift", "build", "--build-tests"], tree, log, 3600) != 0:
                    verdict = "caught (does not build)"
                else:
                    status = run(["swift", "test", "--skip-build", "--filter", mutation.suites], tree, log, 3600)
                    verdict = "caught" if status != 0 else "survived"
            finally:
                open(path, "w").write(original)
            results.append((mutation, verdict, time.monotonic() - started))
            print(f"{mutation.id}: {verdict}", flush=True)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Mutation run",
        "",
        f"`make mutate` on commit {commit}: each security check broken on its own, then the suites that",
        "should notice run. Generated by scripts/mutate.py; do not edit.",
        "",
        "| mutation | what it breaks | suites | result |",
        "|---|---|---|---|",
    ]
    for mutation, verdict, seconds in results:
        suites = mutation.suites.replace("|", "\\|")
        lines.append(f"| `{mutation.id}` | {mutation.guards} | `{suites}` | {verdict} ({seconds:.0f} s) |")
    caught = sum(1 for _, verdict, _ in results if verdict.startswith("caught"))
    lines += ["", f"{caught} of {len(results)} caught."]
    if not args.only:
        open(args.output, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if caught == len(results) else 1)


if __name__ == "__main__":
    main()
