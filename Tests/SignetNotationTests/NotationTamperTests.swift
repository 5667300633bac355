import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// Signatures made by the tests' own PKI, each altered in one place: every alteration is refused
/// by the check the specification assigns it to, and the unaltered signature passes.
@Suite struct NotationTamperTests {
    static let jws = "application/jose+json"

    func verify(_ envelope: [UInt8], mediaType: String = jws, statement: NotationTrustPolicy.Statement, stores: NotationTrustStores, at time: Date) -> NotationVerification {
        NotationVerifier(statement: statement, stores: stores).verify(envelope: envelope, mediaType: mediaType, target: NotationTestSigner.target, at: time)
    }

    @Test func unalteredSignaturePassesAndEachAlterationIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let strict = try NotationTestSigner.statement()
        let time = signer.validTime

        let good = try await offThePool { try signer.jws() }
        #expect(verify(good, statement: strict, stores: stores, at: time).passed)

        // The payload names another digest: integrity.
        let other = NotationTarget(digest: "sha256:" + String(repeating: "cd", count: 32), mediaType: NotationTestSigner.target.mediaType, size: NotationTestSigner.target.size)
        let wrongDigest = try await offThePool { try signer.jws(payload: NotationTestSigner.payload(other)) }
        let digestOutcome = verify(wrongDigest, statement: strict, stores: stores, at: time)
        #expect(digestOutcome.failure?.contains("integrity validation failed: the signature is for \(other.digest)") == true, "\(digestOutcome.failure ?? "passed")")
        // Another size or media type: integrity.
        let otherSize = NotationTarget(digest: NotationTestSigner.target.digest, mediaType: NotationTestSigner.target.mediaType, size: NotationTestSigner.target.size + 1)
        let wrongSize = try await offThePool { try signer.jws(payload: NotationTestSigner.payload(otherSize)) }
        #expect(verify(wrongSize, statement: strict, stores: stores, at: time).failure?.contains("target size") == true)

        // An unknown critical header, signed: refused although the signature is valid.
        let unknownCritical = try await offThePool {
            try signer.jws(protected: #"{"alg":"PS256","crit":["io.cncf.notary.signingScheme","acme.policy"],"acme.policy":"x","cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-01T00:00:00Z"}"#)
        }
        #expect(verify(unknownCritical, statement: strict, stores: stores, at: time).failure?.contains("unknown critical header \"acme.policy\"") == true)
        // An expiry not marked critical.
        let uncriticalExpiry = try await offThePool {
            try signer.jws(protected: #"{"alg":"PS256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.expiry":"2099-01-01T00:00:00Z","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-01T00:00:00Z"}"#)
        }
        #expect(verify(uncriticalExpiry, statement: strict, stores: stores, at: time).failure?.contains("not listed in crit") == true)

        // The protected header changed after signing (a later signing time): integrity.
        let altered = try await offThePool {
            try signer.jws { protected in
                let header = #"{"alg":"PS256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2030-01-01T00:00:00Z"}"#
                protected = NotationTestSigner.base64URL(Array(header.utf8))
            }
        }
        #expect(verify(altered, statement: strict, stores: stores, at: time).failure?.contains("integrity validation failed: the signature does not verify") == true)

        // An algorithm that does not fit the key (ES256 with an RSA key): integrity.
        let wrongAlgorithm = try await offThePool {
            try signer.jws(protected: #"{"alg":"PS384","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-01T00:00:00Z"}"#)
        }
        #expect(verify(wrongAlgorithm, statement: strict, stores: stores, at: time).failure?.contains("does not fit") == true)

        // The root alone trusted under another store name: authenticity.
        let elsewhere = NotationTrustStores([.init(type: .ca, name: "other"): [signer.root]])
        #expect(verify(good, statement: strict, stores: elsewhere, at: time).failure?.contains("the trust store \"acme\" of type \"ca\" does not exist") == true)

        // An identity outside trustedIdentities: authenticity; inside: passes.
        let others = try NotationTestSigner.statement(identities: ["x509.subject: C=US, ST=WA, O=Other"])
        let outside = verify(good, statement: others, stores: stores, at: time)
        #expect(outside.failure?.hasPrefix("authenticity validation failed: signing certificate from the digital signature does not match") == true, "\(outside.failure ?? "passed")")
        let acme = try NotationTestSigner.statement(identities: ["x509.subject: C=US, ST=WA, O=Acme, CN=signer"])
        #expect(verify(good, statement: acme, stores: stores, at: time).passed)

        // After the leaf expired, without a timestamp: authentic timestamp.
        let late = signer.leaf.notValidAfter.addingTimeInterval(60)
        #expect(verify(good, statement: strict, stores: stores, at: late).failure?.hasPrefix("authenticTimestamp validation failed") == true)
    }

    /// A trusted CA that lets a requester choose the text of one subject field cannot be made
    /// to vouch for another team's identity: a commonName of `build\u{0600},OU=Release` prints
    /// as `CN=build\u{0600}\,OU=Release,...`, which read back by grapheme clusters lost the
    /// escape (U+0600 takes the backslash into its cluster) and gained `OU=Release`. The subject
    /// is read from the certificate's own attributes.
    /// PS256 is RSASSA-PSS with a 32-byte salt (RFC 7518 section 3.5); a signature the key made
    /// with another salt length is refused, as notation does, instead of its salt being recovered.
    @Test func aPS256SignatureWithAnotherSaltLengthIsRefused() async throws {
        for salt in [0, 20, 64] {
            let signer = try await offThePool { try NotationTestSigner(pssSaltLength: salt) }
            let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
            let outcome = verify(try await offThePool { try signer.jws() }, statement: try NotationTestSigner.statement(), stores: stores, at: signer.validTime)
            #expect(!outcome.passed, "a PS256 signature with a \(salt)-byte salt was accepted")
            #expect(outcome.failure?.contains("integrity") == true, "\(outcome.failure ?? "passed")")
        }
    }

    @Test func aSubjectValueCannotForgeAnotherAttribute() async throws {
        let forged = try await offThePool { try NotationTestSigner(leafSubject: "/C=US/ST=WA/O=Acme/CN=build\u{0600},OU=Release") }
        #expect(forged.leaf.subjectAttributes?.map(\.type) == ["C", "ST", "O", "CN"])
        #expect(forged.leaf.subjectAttributes?.last?.value == "build\u{0600},OU=Release")
        let release = try NotationTestSigner.statement(identities: ["x509.subject: C=US, ST=WA, O=Acme, OU=Release"])
        let envelope = try await offThePool { try forged.jws() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [forged.root]])
        let outcome = verify(envelope, statement: release, stores: stores, at: forged.validTime)
        #expect(outcome.failure?.hasPrefix("authenticity validation failed: signing certificate from the digital signature does not match") == true,
                "\(outcome.failure ?? "passed")")
        // The real OU, from the same CA, is trusted.
        let team = try await offThePool { try NotationTestSigner(leafSubject: "/C=US/ST=WA/O=Acme/OU=Release/CN=build") }
        let teamEnvelope = try await offThePool { try team.jws() }
        let teamStores = NotationTrustStores([.init(type: .ca, name: "acme"): [team.root]])
        #expect(verify(teamEnvelope, statement: release, stores: teamStores, at: team.validTime).passed)
    }

    /// ES256: the `r || s` signature JWS carries, turned into DER for OpenSSL.
    @Test func ecdsaSignaturesVerify() async throws {
        let signer = try await offThePool { try NotationTestSigner(ecdsa: true) }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let envelope = try await offThePool { try signer.jws() }
        let outcome = verify(envelope, statement: try NotationTestSigner.statement(), stores: stores, at: signer.validTime)
        #expect(outcome.passed, "\(outcome.failure ?? "")")
        // PS256 named over an ECDSA key: integrity.
        let misnamed = try await offThePool {
            try signer.jws(protected: #"{"alg":"PS256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-01T00:00:00Z"}"#)
        }
        #expect(verify(misnamed, statement: try NotationTestSigner.statement(), stores: stores, at: signer.validTime).failure?.contains("does not fit") == true)
    }

    @Test func chainOrderAndCompletenessAreChecked() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let strict = try NotationTestSigner.statement()
        let good = try await offThePool { try signer.jws() }
        #expect(verify(good, statement: strict, stores: stores, at: signer.validTime).passed)
        let swapped = try await offThePool { try signer.jws(chain: [signer.leaf, signer.root, signer.intermediate!]) }
        #expect(verify(swapped, statement: strict, stores: stores, at: signer.validTime).failure?.contains("not in order") == true)
        let withoutRoot = try await offThePool { try signer.jws(chain: [signer.leaf, signer.intermediate!]) }
        #expect(verify(withoutRoot, statement: strict, stores: stores, at: signer.validTime).failure?.contains("self-signed root") == true)
    }

    /// A spliced chain: the attacker's own root has the trusted root's name and signs a leaf
    /// "issued by" it; `x5c` is `[leaf, trusted root, attacker root]`. Names line up link by
    /// link and the last certificate is self-signed, and a path builder finds leaf → attacker
    /// root, while the trusted root sits unused in the chain. It must not pass.
    @Test func aSplicedChainWithARootOfTheSameNameIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let attacker = try await offThePool { try NotationTestSigner() }
        #expect(attacker.root.subject == signer.root.subject && attacker.root != signer.root)
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let strict = try NotationTestSigner.statement()
        let spliced = try await offThePool { try attacker.jws(chain: [attacker.leaf, signer.root, attacker.root]) }
        let outcome = verify(spliced, statement: strict, stores: stores, at: attacker.validTime)
        #expect(!outcome.passed)
        #expect(outcome.failure?.contains("is self-signed but is not the last certificate") == true, "\(outcome.failure ?? "passed")")
        // The attacker's own chain is not trusted either.
        let own = try await offThePool { try attacker.jws() }
        #expect(verify(own, statement: strict, stores: stores, at: attacker.validTime).failure?.contains("does not contain any trusted certificate") == true)
    }

    /// AWS Signer's shape: root, intermediate, leaf; scheme `notary.x509.signingAuthority`, the
    /// signing authority's `authenticSigningTime`; a COSE envelope.
    @Test func signingAuthorityScheme() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        let signedAt = signer.validTime
        let envelope = try await offThePool { try signer.coseSigningAuthority(authenticSigningTime: signedAt) }
        let authorityStores = NotationTrustStores([.init(type: .signingAuthority, name: "aws"): [signer.root]])
        let authority = try NotationTestSigner.statement(stores: ["signingAuthority:aws"])
        // Years after the leaf expired, the authentic signing time still vouches for it.
        let later = signer.leaf.notValidAfter.addingTimeInterval(86_400 * 400)
        let outcome = verify(envelope, mediaType: "application/cose", statement: authority, stores: authorityStores, at: later)
        #expect(outcome.passed, "\(outcome.failure ?? "")")
        #expect(outcome.signingScheme == .signingAuthority)
        #expect(outcome.signingTimeSource?.contains("authentic signing time") == true)
        #expect(outcome.chain.count == 3)

        // Without a trusted signing authority (only a ca store): authenticity.
        let caOnly = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let refused = verify(envelope, mediaType: "application/cose", statement: try NotationTestSigner.statement(), stores: caOnly, at: later)
        #expect(refused.failure?.contains("lists no trust store of type signingAuthority") == true, "\(refused.failure ?? "passed")")

        // An authentic signing time outside the chain's validity: authentic timestamp.
        let early = try await offThePool { try signer.coseSigningAuthority(authenticSigningTime: signer.root.notValidBefore.addingTimeInterval(-86_400)) }
        let outside = verify(early, mediaType: "application/cose", statement: authority, stores: authorityStores, at: later)
        #expect(outside.failure?.hasPrefix("authenticTimestamp validation failed") == true, "\(outside.failure ?? "passed")")

        // The same bytes named as JWS: integrity.
        #expect(verify(envelope, statement: authority, stores: authorityStores, at: later).failure?.hasPrefix("integrity validation failed") == true)
    }
}

/// RFC 3161 countersignatures (scheme `notary.x509`): after the signing certificate expired, a
/// signature is accepted only through a timestamp from a TSA in a `tsa` trust store of the
/// statement; a statement with such a store and `verifyTimestamp: always` requires one; one
/// without a `tsa` store does not look at it (the Notary Project trust-policy specification,
/// "Timestamp Countersignature Verification details").
@Suite struct NotationTimestampTests {
    /// The Notary Project's certificate requirements hold for a TSA's certificate chain as for
    /// the signer's (notation-core-go's `ValidateTimestampingCertChain`): each of these TSAs is
    /// one OpenSSL's RFC 3161 checks accept (they ask for the critical timeStamping purpose
    /// alone, and a keyUsage, when present, of digitalSignature or nonRepudiation), and each
    /// token is refused, naming what the TSA's certificate lacks.
    @Test func aTSACertificateOutsideTheNotaryProjectRequirementsIsRefused() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let cases: [(extensions: String, key: String, problem: String)] = [
            ("basicConstraints=CA:FALSE\nextendedKeyUsage=critical,timeStamping\n", "rsa:2048", "has no keyUsage extension"),
            ("basicConstraints=CA:FALSE\nkeyUsage=critical,nonRepudiation\nextendedKeyUsage=critical,timeStamping\n", "rsa:2048",
             "has no digitalSignature in its keyUsage"),
            ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n", "rsa:1024",
             "neither RSA of at least 2048 bits nor EC of at least 256 bits"),
        ]
        let statement = try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"])
        let valid = signer.leaf.notValidBefore.addingTimeInterval(86_400)
        for (extensions, key, problem) in cases {
            let tsa = try await offThePool { try TestTimestampAuthority(leafExtensions: extensions, leafKey: key) }
            let envelope = try await offThePool { try signer.jws(timestamp: { try tsa.token(over: $0) }) }
            let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root], .init(type: .tsa, name: "acme-tsa"): [tsa.root]])
            let outcome = NotationVerifier(statement: statement, stores: stores)
                .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: valid)
            #expect(outcome.failure?.hasPrefix("authenticTimestamp validation failed: the timestamp countersignature's certificate chain is invalid: the timestamping certificate") == true,
                    "\(key) \(extensions): \(outcome.failure ?? "passed")")
            #expect(outcome.failure?.contains(problem) == true, "\(outcome.failure ?? "passed")")
        }
    }

    @Test func countersignedSignatureOutlivesItsCertificateOnlyWithATrustedTSA() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let tsa = try await offThePool { try TestTimestampAuthority() }
        let otherTSA = try await offThePool { try TestTimestampAuthority() }
        let envelope = try await offThePool { try signer.jws(timestamp: { try tsa.token(over: $0) }) }
        let stamped = try NotationEnvelope.parse(envelope, mediaType: "application/jose+json")
        #expect(stamped.timestampToken != nil)

        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root], .init(type: .tsa, name: "acme-tsa"): [tsa.root]])
        let withTSA = try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"])
        let expired = signer.leaf.notValidAfter.addingTimeInterval(86_400 * 30)
        func verify(_ statement: NotationTrustPolicy.Statement, _ stores: NotationTrustStores, _ bytes: [UInt8] = envelope) -> NotationVerification {
            NotationVerifier(statement: statement, stores: stores).verify(envelope: bytes, mediaType: "application/jose+json", target: NotationTestSigner.target, at: expired)
        }

        let trusted = verify(withTSA, stores)
        #expect(trusted.passed, "\(trusted.failure ?? "")")
        #expect(trusted.signingTimeSource?.hasPrefix("RFC 3161 timestamp") == true)

        // The same signature without a tsa store: the countersignature is not looked at, and the
        // certificate has expired at the time of verification.
        let noStore = verify(try NotationTestSigner.statement(stores: ["ca:acme"]), stores)
        #expect(noStore.failure?.hasPrefix("authenticTimestamp validation failed: the certificate") == true, "\(noStore.failure ?? "passed")")
        #expect(noStore.failure?.contains("is not valid at \(expired.formatted(.iso8601))") == true, "\(noStore.failure ?? "passed")")

        // A tsa store holding another TSA's root: refused.
        let otherStores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root], .init(type: .tsa, name: "acme-tsa"): [otherTSA.root]])
        #expect(verify(withTSA, otherStores).failure?.contains("not from a trusted TSA") == true)

        // A token over other bytes (another signature's): refused.
        let misplaced = try await offThePool { try signer.jws(timestamp: { try tsa.token(over: $0.reversed()) }) }
        #expect(verify(withTSA, stores, misplaced).failure?.hasPrefix("authenticTimestamp validation failed") == true)

        // Without a countersignature, the expired certificate fails the same check.
        let plain = try await offThePool { try signer.jws() }
        #expect(verify(withTSA, stores, plain).failure?.hasPrefix("authenticTimestamp validation failed") == true)

        // While the certificate is valid: a tsa store with verifyTimestamp always requires the
        // countersignature (a key used outside the pipeline that timestamps is refused) ...
        let valid = signer.leaf.notValidBefore.addingTimeInterval(86_400)
        func verify(_ statement: NotationTrustPolicy.Statement, _ bytes: [UInt8], at time: Date) -> NotationVerification {
            NotationVerifier(statement: statement, stores: stores).verify(envelope: bytes, mediaType: "application/jose+json", target: NotationTestSigner.target, at: time)
        }
        let unstamped = verify(withTSA, plain, at: valid)
        #expect(unstamped.failure?.hasPrefix("authenticTimestamp validation failed: the signature has no timestamp countersignature") == true, "\(unstamped.failure ?? "passed")")
        #expect(verify(withTSA, envelope, at: valid).passed)
        // ... afterCertExpiry does not, until the chain has expired ...
        let afterExpiry = try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"], verifyTimestamp: "afterCertExpiry")
        #expect(verify(afterExpiry, plain, at: valid).passed)
        #expect(verify(afterExpiry, plain, at: expired).failure?.contains("has no timestamp countersignature") == true)
        // ... and a chain not valid yet has not expired: judged at the time of verification, as notation-go does.
        let early = verify(afterExpiry, plain, at: signer.leaf.notValidBefore.addingTimeInterval(-86_400))
        #expect(early.failure?.hasPrefix("authenticTimestamp validation failed: the certificate") == true, "\(early.failure ?? "passed")")
        // ... and a statement without a tsa store takes a timestamped signature as it would take
        // one without: judged at the time of verification.
        let caOnly = verify(try NotationTestSigner.statement(stores: ["ca:acme"]), envelope, at: valid)
        #expect(caOnly.passed, "\(caOnly.failure ?? "")")
        #expect(caOnly.signingTimeSource?.contains("no timestamp countersignature verification: the statement lists no tsa trust store") == true)
    }

    /// The time a countersignature vouches for is a range, its genTime less and plus its
    /// accuracy, and the whole range must lie within the chain's validity: a TSA whose tokens say
    /// they are accurate to twenty years vouches for no time within a certificate's few.
    @Test func theTimestampsAccuracyCounts() async throws {
        let signer = try await offThePool { try NotationTestSigner() }
        let vague = try await offThePool { try TestTimestampAuthority(accuracy: "secs:\(20 * 365 * 86_400)") }
        let baseline = try await offThePool { try TestTimestampAuthority(policy: "0.4.0.2023.1.1") }
        let precise = try await offThePool { try TestTimestampAuthority(accuracy: "secs:2, millisecs:500, microsecs:7") }
        let stores = NotationTrustStores([
            .init(type: .ca, name: "acme"): [signer.root], .init(type: .tsa, name: "acme-tsa"): [vague.root, baseline.root, precise.root],
        ])
        let statement = try NotationTestSigner.statement(stores: ["ca:acme", "tsa:acme-tsa"])
        let expired = signer.leaf.notValidAfter.addingTimeInterval(86_400 * 30)
        let stamped = try await offThePool { try signer.jws(timestamp: { try vague.token(over: $0) }) }
        let outcome = NotationVerifier(statement: statement, stores: stores)
            .verify(envelope: stamped, mediaType: "application/jose+json", target: NotationTestSigner.target, at: expired)
        #expect(outcome.failure?.hasPrefix("authenticTimestamp validation failed: the certificate") == true, "\(outcome.failure ?? "passed")")

        // The range as the token states it: an accuracy of seconds, milliseconds and
        // microseconds; one second under the baseline policy when it states none; else none.
        let data = Array("signet".utf8)
        let ranges = try await offThePool {
            try [precise, baseline, TestTimestampAuthority()].map { try TimeStampResponse(derEncoded: $0.response(over: data)) }
        }
        #expect(ranges[0].accuracy == 2.500007 && !ranges[0].isBaselinePolicy)
        #expect(ranges[1].accuracy == nil && ranges[1].isBaselinePolicy)
        // Dates are Doubles of seconds since 2001: a microsecond is within their precision, not exact.
        let widths = ranges.map { $0.timeRange.upperBound.timeIntervalSince($0.timeRange.lowerBound) }
        #expect(zip(widths, [5.000014, 2, 0]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(widths)")
        #expect(ranges.allSatisfy { abs($0.timeRange.lowerBound.distance(to: $0.generationTime) - $0.generationTime.distance(to: $0.timeRange.upperBound)) < 1e-6 })
    }
}
