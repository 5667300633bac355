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
check guards; a check enforced in two places lists the second as `also` (file, find, replace).
Run some: `make mutate ONLY=<id>,<id>`: their rows in MUTATIONS.md are replaced, the others kept
with the commit they ran on. The `finding-*` and `item-*` mutations undo the fix of a review
finding, so their row says whether a test fails on the code as it was before the fix; the
`harden-*` mutations do the same for the fixes of the hardening review (RELIABILITY.md). The build
directory (`--scratch-path`, `.build-mutate` by default) and the scratch worktree in it (`tree`,
moved to HEAD at each run) are kept between runs, so that a run rebuilds only what changed since the
last; the build log is `mutate-log.txt` in it.
"""
import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# Limits that catch a hung build or test run only: a first build on a busy 2-core machine takes
# over an hour.
BUILD_TIMEOUT = 4 * 3600
TEST_TIMEOUT = 2 * 3600


@dataclasses.dataclass
class Mutation:
    id: str
    guards: str
    file: str
    find: str
    replace: str
    suites: str
    also: tuple = ()

    def edits(self):
        return [(self.file, self.find, self.replace)] + list(self.also)


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
             "        now < validUntil && !exceedsWindow(maximumWindow, now: now)",
             "        !exceedsWindow(maximumWindow, now: now)",
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
    Mutation("sigstore-set-signature", "a Rekor signed entry timestamp verifies with the log's key",
             "Sources/SignetSigstore/SigstoreVerifier+TransparencyLog.swift",
             "guard log.publicKey.verify(signature: promise, message: entry.signedEntryTimestampPayload, scheme: log.signatureScheme) else {",
             "guard log.publicKey.verify(signature: promise, message: entry.signedEntryTimestampPayload, scheme: log.signatureScheme) || true else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("sigstore-inclusion-proof", "a Rekor inclusion proof leads to the logged root hash",
             "Sources/SignetSigstore/SigstoreVerifier+TransparencyLog.swift",
             "        guard root == proof.rootHash else {",
             "        guard root == proof.rootHash || true else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("sigstore-checkpoint-signature", "a Rekor checkpoint is signed by the log",
             "Sources/SignetSigstore/SigstoreVerifier+TransparencyLog.swift",
             "        guard checkpoint.note.isSigned(",
             "        guard true || checkpoint.note.isSigned(",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("x509-path-validation", "a certificate chains to a trusted root (RFC 5280 path validation)",
             "Sources/CSignetOpenSSL/shims.c",
             "        verified = X509_verify_cert(context) == 1;",
             "        verified = X509_verify_cert(context) == 1 || 1;",
             "SignetSigstoreTests|SignetVerifyTests|SignetNotationTests"),
    Mutation("x509-validity-time", "every certificate on a path is valid at the signing time",
             "Sources/CSignetOpenSSL/shims.c",
             "        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(context), (time_t)time);",
             # The store's parameters carry the time too (USE_CHECK_TIME wins over NO_CHECK_TIME), so
             # the mutant clears it before turning time checks off.
             "        X509_VERIFY_PARAM_clear_flags(X509_STORE_CTX_get0_param(context), X509_V_FLAG_USE_CHECK_TIME);"
             " X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(context), X509_V_FLAG_NO_CHECK_TIME);",
             "SignetSigstoreTests|SignetVerifyTests|SignetNotationTests"),
    Mutation("sigstore-sct-signature", "an embedded SCT is signed by a CT log of the trusted root",
             "Sources/SignetSigstore/SigstoreVerifier+CertificateChain.swift",
             "guard sct.verify(certificate: leaf, issuer: chain.issuer, logKey: log.publicKey) else {",
             "guard sct.verify(certificate: leaf, issuer: chain.issuer, logKey: log.publicKey) || true else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("sigstore-sct-threshold", "a Fulcio certificate carries valid SCTs from enough distinct trusted CT logs",
             "Sources/SignetSigstore/SigstoreVerifier+CertificateChain.swift",
             "guard valid.count >= required else {",
             "guard valid.count >= min(required, 0) else {",
             "SignetSigstoreTests|SignetVerifyTests"),
    Mutation("rfc3161-signature", "an RFC 3161 token is signed by a time-stamping certificate of a trusted TSA",
             "Sources/CSignetOpenSSL/shims.c",
             "TS_VERIFY_CTX_set_flags(context, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);",
             "TS_VERIFY_CTX_set_flags(context, TS_VFY_VERSION | TS_VFY_DATA);",
             "SignetSigstoreTests|SignetVerifyTests|SignetNotationTests"),
    Mutation("rfc3161-message-imprint", "an RFC 3161 token's message imprint is the hash of the signature it stamps",
             "Sources/CSignetOpenSSL/shims.c",
             "TS_VERIFY_CTX_set_flags(context, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);",
             "TS_VERIFY_CTX_set_flags(context, TS_VFY_VERSION | TS_VFY_SIGNATURE);",
             "SignetSigstoreTests|SignetVerifyTests|SignetNotationTests"),
    Mutation("notary-role-expiry", "Notary (TUF) metadata is refused after it expires",
             "Sources/SignetNotary/NotaryTrustedCollection.swift",
             "guard header.expires > referenceTime else {",
             "guard header.expires > referenceTime || true else {",
             "SignetNotaryTests"),
    Mutation("notary-delegation-threshold", "every required Notary delegation (or the threshold of them) vouches",
             "Sources/SignetNotary/NotaryV1Verifier.swift",
             "guard vouched.count >= threshold else {",
             "guard vouched.count >= min(threshold, 1) else {",
             "SignetNotaryTests|SignetVerifyTests"),
    Mutation("notation-target-digest", "a Notation signature's target is the image's own digest",
             "Sources/SignetNotation/NotationVerification.swift",
             "if digest != expected.digest {",
             "if digest != expected.digest && false {",
             "SignetNotationTests|SignetVerifyTests"),
    Mutation("attestation-subject", "an attestation's statement names the image digest as a subject",
             "Sources/SignetAttestation/InTotoStatement.swift",
             "subjects.contains { $0.digest[algorithm] == hex.lowercased() }",
             "subjects.contains { _ in true }",
             "SignetAttestationTests|SignetVerifyTests"),
    Mutation("finding-1-dsse-one-signature", "a DSSE envelope carries exactly one signature, the one its log entry and timestamps attest",
             "Sources/SignetSigstore/SigstoreBundle.swift",
             "            guard parsed.signatures.count == 1 else {",
             "            guard parsed.signatures.count >= 1 else {",
             "DSSESignatureCountTests",
             also=(("Sources/SignetSigstore/SigstoreBundle.swift",
                    "envelope.signatures.count == 1 ? envelope.signatures[0].signature : nil",
                    "envelope.signatures.first?.signature"),)),
    Mutation("finding-2-trust-material-revision", "key files and trust roots a policy read are part of its revision",
             "Sources/SignetPolicy/PolicyLoader.swift",
             "        PolicySet.combineTrustMaterial(unhashed.trustMaterialFiles, into: &hash)",
             "",
             "TrustMaterialReloadTests",
             also=(("Sources/SignetPolicy/PolicyDirectoryWatcher.swift",
                    "        PolicySet.combineTrustMaterial(trustMaterialFiles, into: &hash)", ""),)),
    Mutation("finding-3-key-equality", "two encodings of one key are one key (a threshold counts keys)",
             "Sources/SignetCrypto/PublicKey.swift",
             "        lhs.canonicalForm == rhs.canonicalForm",
             "        lhs.subjectPublicKeyInfo == rhs.subjectPublicKeyInfo",
             "KeyEncodingTests"),
    Mutation("finding-4-key-bundles", "key authorities read cosign 3 bundles attached as referrers",
             "Sources/SignetVerify/CosignKeyVerifier.swift",
             "            try await verifyBundleReferrers(&run)",
             "",
             "CosignKeyBundleTests"),
    Mutation("finding-5-key-tlog-require", "transparencyLog: require needs a log entry for a key signature",
             "Sources/SignetVerify/CosignKeyVerifier+Bundles.swift",
             "        settings.transparencyLogThreshold = required ? 1 : 0",
             "        settings.transparencyLogThreshold = 0",
             "KeyTransparencyLogTests",
             also=(("Sources/SignetVerify/CosignKeyVerifier.swift",
                    "            if trust.transparencyLog.requirement == .require {",
                    "            if trust.transparencyLog.requirement == .require && false {"),)),
    Mutation("finding-6-tuf-root-in-force", "authorities naming no trust root use the root TUF keeps current",
             "Sources/SignetPolicy/PolicyLoader+KeylessAuthority.swift",
             "            if let live = liveTrustedRoot?.current { return (live.root, live.origin, live.digest) }",
             "",
             "SigstoreTUFServeTests|PrivateTUFServeTests"),
    Mutation("finding-7-log-key-details", "a log key signs with the hash its key details name (P-384: SHA-384)",
             "Sources/SignetSigstore/TrustedRoot.swift",
             "        signatureScheme = try Self.signatureScheme(details: details, key: publicKey)",
             "        signatureScheme = SignatureScheme()",
             "TrustedRootKeyDetailsTests"),
    Mutation("item-a-logged-key-equality", "the key a Rekor entry records is compared as a key, not as DER",
             "Sources/SignetSigstore/RekorEntryBody.swift",
             "            case .publicKey(let der): Self.key(der: der) == key",
             "            case .publicKey(let der): der == key.subjectPublicKeyInfo",
             "KeyTransparencyLogTests"),
    Mutation("harden-body-peer-share", "one address holds at most its share of the request body budget (--max-buffered-body-bytes-per-peer)",
             "Sources/SignetHTTP/Server/BodyBudget.swift",
             "if let peer, state.byPeer[peer, default: 0] + bytes > limits.maxBufferedBodyBytesPerPeer {",
             "if let peer, state.byPeer[peer, default: 0] + bytes > limit {",
             "PeerConnectionLimitsTests|HardeningTests/oneAddressHoldsOnlyItsShareOfTheBodyBudget"),
    Mutation("harden-body-reserved-room", "the last --reserved-body-bytes of the body budget are the reserved peers' alone",
             "Sources/SignetHTTP/Server/BodyBudget.swift",
             "if !limits.reservedPeers.isEmpty, state.total + bytes > limit - limits.reservedBodyBytes {",
             "if !limits.reservedPeers.isEmpty, state.total + bytes > limit {",
             "PeerConnectionLimitsTests|HardeningTests/reservedPeersKeepTheirRoomInTheBodyBudget"),
    Mutation("harden-peer-connections", "one address holds at most --max-connections-per-peer connections",
             "Sources/SignetHTTP/Server/PeerConnectionLimits.swift",
             "if let peer, counts.byPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {",
             "if let peer, counts.byPeer[peer, default: 0] >= maxConnections {",
             "PeerConnectionLimitsTests|HardeningTests/oneAddressCannotHoldMoreThanItsShareOfConnections"),
    Mutation("harden-reserved-connections", "the last --reserved-connections slots are the reserved peers' alone",
             "Sources/SignetHTTP/Server/PeerConnectionLimits.swift",
             "if !limits.reservedPeers.isEmpty, counts.total >= maxConnections - limits.reservedConnections {",
             "if !limits.reservedPeers.isEmpty, counts.total >= maxConnections {",
             "PeerConnectionLimitsTests|HardeningTests/reservedPeersKeepTheirRoomWhenOthersFillTheServer"),
    Mutation("harden-bounded-tables", "bearer tokens, server challenges and Notary collections are kept in tables of bounded size",
             "Sources/SignetRegistry/ExpiringTable.swift",
             "        if entries[key] == nil, entries.count >= capacity {",
             "        if entries[key] == nil, entries.count >= capacity, false {",
             "RegistryAuthenticationTests|NotaryCacheTests"),
    Mutation("harden-rekor2-log-index", "a Rekor v2 entry's logIndex is its inclusion proof's index",
             "Sources/SignetSigstore/SigstoreVerifier+TransparencyLog.swift",
             "if entry.isRekorV2, proof.logIndex != entry.logIndex {",
             "if entry.isRekorV2, proof.logIndex != proof.logIndex {",
             "SigstoreTamperMatrixTests"),
    Mutation("harden-dsse-signature-first", "an attestation's DSSE payload is parsed only after a trusted signer signed it",
             "Sources/SignetVerify/AttestationVerifier+Decision.swift",
             "        guard !signed.isEmpty else { return examination }\n",
             "",
             "AttestationVerifierTests"),
    Mutation("harden-kind-label", "the kind label of signet_admission_reviews_total takes only known kinds, other for the rest",
             "Sources/SignetAdmission/AdmissionMetrics.swift",
             "        kindsNamedInMetrics.contains(kind) ? kind : \"other\"",
             "        kind",
             "HardeningTests/madeUpKindsAreCountedAsOther"),
    Mutation("harden-client-allowed-names", "with --client-allowed-names, only a client certificate naming an allowed client may post reviews",
             "Sources/SignetCLI/SignetRequestHandler.swift",
             "            && !context.peerCertificateNames.contains(where: allowedClientNames.contains) {",
             "            && !context.peerCertificateNames.contains(where: allowedClientNames.contains) && false {",
             "HardeningTests/onlyAllowedClientNamesMayPostReviewsAndTheAuditRecordNamesTheCaller"),
]


def run(args, cwd, log, timeout):
    with open(log, "ab") as out:
        return subprocess.run(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation ids")
    parser.add_argument("--output", default=os.path.join(ROOT, "MUTATIONS.md"))
    parser.add_argument("--scratch-path", default=os.path.join(ROOT, ".build-mutate"),
                        help="the SwiftPM build directory, kept between runs so that dependencies build once")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only.split(",")]

    build = os.path.abspath(args.scratch_path)
    os.makedirs(build, exist_ok=True)
    log = os.path.join(build, "mutate-log.txt")
    open(log, "w").close()
    # The scratch worktree stays at one path between runs and is moved to HEAD, so that the kept
    # build directory rebuilds only the files that changed since the last run.
    tree = os.path.join(build, "tree")
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "-C", tree, "checkout", "--detach", "--force", head], capture_output=True).returncode != 0:
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["git", "-C", ROOT, "worktree", "prune"], capture_output=True)
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, head], check=True, capture_output=True)
    subprocess.run(["git", "-C", tree, "clean", "-fdq"], check=True, capture_output=True)
    # The dependency versions the checkout resolved, so that the kept build directory's stay valid.
    if os.path.exists(os.path.join(ROOT, "Package.resolved")):
        shutil.copy(os.path.join(ROOT, "Package.resolved"), tree)
    swift_build = ["swift", "build", "--build-tests", "--scratch-path", build]
    results = []
    try:
        os.environ["SIGNET_BINARY"] = os.path.join(build, "debug", "signet")
        print(f"building the unmutated tree once (log: {log})", flush=True)
        if run(swift_build, tree, log, BUILD_TIMEOUT) != 0:
            sys.exit(f"the unmutated tree does not build; see {log}")
        for mutation in chosen:
            started = time.monotonic()
            originals = {}
            for file, _, _ in mutation.edits():
                originals.setdefault(file, open(os.path.join(tree, file)).read())
            mutated = dict(originals)
            stale = False
            for file, find, replace in mutation.edits():
                if mutated[file].count(find) != 1:
                    stale = True
                    break
                mutated[file] = mutated[file].replace(find, replace)
            if stale:
                results.append((mutation, "stale", 0.0))
                print(f"{mutation.id}: stale (the code to mutate is not found exactly once)", flush=True)
                continue
            for file, text in mutated.items():
                open(os.path.join(tree, file), "w").write(text)
            try:
                if run(swift_build, tree, log, BUILD_TIMEOUT) != 0:
                    verdict = "caught (does not build)"
                else:
                    status = run(["swift", "test", "--skip-build", "--scratch-path", build, "--filter", mutation.suites],
                                 tree, log, TEST_TIMEOUT)
                    verdict = "caught" if status != 0 else "survived"
            finally:
                for file, text in originals.items():
                    open(os.path.join(tree, file), "w").write(text)
            results.append((mutation, verdict, time.monotonic() - started))
            print(f"{mutation.id}: {verdict}", flush=True)
    finally:
        # A mutation is never left behind, even when a build or test run was interrupted.
        subprocess.run(["git", "-C", tree, "checkout", "--force", "--", "."], capture_output=True)

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = {}
    if args.only and os.path.exists(args.output):
        # Keep the rows of mutations not run this time, with the commit they ran on.
        for line in open(args.output):
            found = re.match(r"\| `([a-z0-9-]+)` \|", line)
            if found and not any(m.id == found.group(1) for m, _, _ in results):
                rows[found.group(1)] = line.rstrip("\n")
    for mutation, verdict, seconds in results:
        suites = mutation.suites.replace("|", "\\|")
        rows[mutation.id] = f"| `{mutation.id}` | {mutation.guards} | `{suites}` | {verdict} ({seconds:.0f} s) | {commit} |"
    ordered = [rows[m.id] for m in MUTATIONS if m.id in rows]
    caught = sum(1 for row in ordered if "| caught" in row)
    lines = [
        "# Mutation run",
        "",
        "`make mutate`: each security check broken on its own, then the suites that should notice run.",
        "Generated by scripts/mutate.py; do not edit.",
        "",
        "| mutation | what it breaks | suites | result | commit |",
        "|---|---|---|---|---|",
    ] + ordered + ["", f"{caught} of {len(ordered)} caught."]
    missing = [m.id for m in MUTATIONS if m.id not in rows]
    if missing:
        lines.append(f"Not run yet: {', '.join(missing)}.")
    open(args.output, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if all("| caught" in rows[m.id] for m, _, _ in results) else 1)


if __name__ == "__main__":
    main()
