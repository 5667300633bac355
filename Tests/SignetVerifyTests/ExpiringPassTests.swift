import Foundation
import NIOConcurrencyHelpers
import SignetPolicy
import SignetTestSupport
import SignetVerify
import Testing

@testable import SignetRegistry

/// A pass that stops holding at a known time (a Notation signature's expiry, a certificate
/// judged at the time of verification, Notary v1 trust metadata's expiry) is cached until then
/// at most: the verification cache must not keep admitting an image for the rest of its TTL
/// after its signature expired.
@Suite("Cached passes that expire")
struct ExpiringPassTests {
    /// Passes, valid until `validUntil` (none when nil); counts its calls.
    final class ExpiringVerifier: SignatureVerifier, Sendable {
        let calls = NIOLockedValueBox(0)
        let validUntil: Date?
        init(validUntil: Date?) { self.validUntil = validUntil }

        var format: SignatureFormat { SignatureFormat("test") }
        func handles(_ authority: CompiledAuthority) -> Bool { true }

        func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
            calls.withLockedValue { $0 += 1 }
            var result = VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: true, reason: "signed")
            result.validUntil = validUntil
            return result
        }
    }

    @Test func aPassIsNotCachedPastTheTimeItStopsHolding() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for (validUntil, callsAfterTwoMinutes) in [(Optional(now + 90), 2), (nil, 1), (now + 3_600, 1)] {
            let verifier = ExpiringVerifier(validUntil: validUntil)
            let clock = ManualClock()
            let client = try RegistryClient()
            defer { client.shutdown() }
            let engine = VerificationEngine(registry: client, verifiers: [verifier], clock: clock.clock, wallClock: .fixed(now))
            let authority = keyAuthority([try trustedKey(file: ConnaisseurVectors.keyFile("alice"))])
            let image = try ImageReference(parsing: "registry.invalid/app@sha256:" + String(repeating: "f", count: 64))
            func verify() async throws -> CacheOutcome? {
                try await engine.verify(image: image, authority: authority, policy: "p", revision: "1", deadline: .now + .seconds(3600)).cache
            }

            #expect(try await verify() == .miss)
            clock.advance(by: .seconds(60))
            #expect(try await verify() == .hit, "valid until \(String(describing: validUntil))")
            // Two minutes on: past the 90 s the first pass held for, within the 10 min TTL.
            clock.advance(by: .seconds(60))
            _ = try await verify()
            #expect(verifier.calls.withLockedValue { $0 } == callsAfterTwoMinutes, "valid until \(String(describing: validUntil))")
        }
    }
}
