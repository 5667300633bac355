import NIOConcurrencyHelpers
import SignetPolicy
import SignetRegistry
import Testing

/// `name:tag@sha256:…` runs the digest, whatever the tag names. A policy limited to tags that
/// the written tag is outside of therefore still covers the image, unless the tag really names
/// that digest (as it does when signet's mutating webhook pinned it): written `web:dev@D` with
/// `D` a release build must not slip past the policy for `prod-*` tags.
struct TagClaimTests {
    static let released = try! ImageDigest(parsing: "sha256:" + String(repeating: "a", count: 64))
    static let devBuild = try! ImageDigest(parsing: "sha256:" + String(repeating: "d", count: 64))

    /// `prod-*` tags of ghcr.io/acme/web must carry the release signature (which no image here
    /// has: the authority fails every one); other tags are covered by nothing.
    static let policies = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: release-tags
        spec:
          images:
            - glob: "ghcr.io/acme/web"
              tags: ["prod-*"]
          authorities:
            - name: release
              keyless:
                identities:
                  - issuer: "https://token.actions.githubusercontent.com"
                    subject: "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"
        """

    /// Fails every authority; knows `dev` as ``devBuild`` (from its cache when `cached`, else by
    /// asking, counted), and cannot resolve `broken`.
    final class Registry: AuthorityVerifier, TagDigestSource {
        let cached: Bool
        let asked = NIOLockedValueBox(0)
        let verified = NIOLockedValueBox(0)

        init(cached: Bool) {
            self.cached = cached
        }

        func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
            verified.withLockedValue { $0 += 1 }
            return AuthorityVerdict(passed: false, authority: authority.name, reason: "no signature by the release workflow")
        }

        func named(_ image: ImageReference) -> ImageDigest? {
            switch image.tag {
            case "dev": TagClaimTests.devBuild
            case "prod-1": TagClaimTests.released
            default: nil
            }
        }

        func cachedDigest(ofTag image: ImageReference) -> ImageDigest? {
            cached ? named(image) : nil
        }

        func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest {
            asked.withLockedValue { $0 += 1 }
            guard let digest = named(image) else { throw TagUnknown() }
            return digest
        }
    }

    struct TagUnknown: Error {}

    static func decide(_ image: String, registry: Registry, scan: Bool = false) async throws -> AdmissionDecision {
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(policies.utf8))])
        let evaluator = PolicyEvaluator(policies: set, noMatchAction: .allow, verifier: registry)
        var subject = AdmissionSubject(namespace: "shop", name: "web", kind: "Pod")
        if scan { subject.nodePinnedImages = [try ImageReference(parsing: image).description] }
        return await evaluator.evaluate([ImageUse(image: image, container: "web")], subject: subject, deadline: .now + .seconds(3600))
    }

    @Test(arguments: [true, false])
    func aTagOutsideThePolicyCoversNothingOnlyWhenItNamesTheDigest(cached: Bool) async throws {
        // The tag names the digest (a pinned dev build): the release policy does not cover it.
        let pinned = Registry(cached: cached)
        let dev = try await Self.decide("ghcr.io/acme/web:dev@\(Self.devBuild)", registry: pinned)
        #expect(dev.allowed && dev.uncovered == 1, "\(dev.denials)")
        #expect(pinned.verified.withLockedValue { $0 } == 0)
        #expect(pinned.asked.withLockedValue { $0 } == (cached ? 0 : 1))

        // Another digest behind the same tag: the digest runs, and the release policy decides.
        let other = Registry(cached: cached)
        let smuggled = try await Self.decide("ghcr.io/acme/web:dev@\(Self.released)", registry: other)
        #expect(!smuggled.allowed, "a tag that does not name the digest vouches for nothing")
        #expect(smuggled.denials.first?.contains("denied by policy \"release-tags\"") == true, "\(smuggled.denials)")
    }

    @Test func aTagThatCannotBeResolvedVouchesForNothing() async throws {
        let registry = Registry(cached: false)
        let decision = try await Self.decide("ghcr.io/acme/web:broken@\(Self.devBuild)", registry: registry)
        #expect(!decision.allowed)
        #expect(decision.denials.first?.contains("release-tags") == true, "\(decision.denials)")
    }

    @Test func tagsThePolicyListsAndDigestsAloneAreCoveredAsBefore() async throws {
        let registry = Registry(cached: false)
        #expect(try await !Self.decide("ghcr.io/acme/web:prod-1@\(Self.released)", registry: registry).allowed)
        #expect(try await !Self.decide("ghcr.io/acme/web@\(Self.devBuild)", registry: registry).allowed)
        #expect(try await Self.decide("ghcr.io/acme/web:dev", registry: registry).uncovered == 1)
        #expect(registry.asked.withLockedValue { $0 } == 0, "no tag outside the policy was written beside a digest")
    }

    @Test func aScanTrustsTheTagTheNodePulled() async throws {
        let registry = Registry(cached: false)
        let decision = try await Self.decide("ghcr.io/acme/web:dev@\(Self.released)", registry: registry, scan: true)
        #expect(decision.allowed && decision.uncovered == 1)
        #expect(registry.asked.withLockedValue { $0 } == 0)
    }
}
