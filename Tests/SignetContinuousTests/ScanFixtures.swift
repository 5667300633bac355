import Foundation
import NIOConcurrencyHelpers
import SignetAdmission
import SignetContinuous
import SignetPolicy
import SignetRegistry
import SignetTestSupport

/// The registry behind ``SigningKeyVerifier/hangingDigest``, and what the verifier was asked:
/// a verification of that digest waits until the test lets the waiting ones go
/// (``releaseWaiting()``) or opens the registry for good (``open()``), and then fails as
/// unreachable; cancelled (at its deadline), it ends at once. Each verifier has its own, so
/// tests running beside each other never count each other's verifications, and a test decides
/// when a batch ends instead of a deadline a loaded machine may spend before the verification
/// even starts.
final class HeldRegistry: Sendable {
    private let state = NIOLockedValueBox((asked: [String](), releases: 0, open: false))

    /// The images verifications were asked for, in the order they started.
    var asked: [String] { state.withLockedValue { $0.asked } }

    /// How many verifications of ``SigningKeyVerifier/hangingDigest`` started.
    var held: Int { asked.filter { $0.hasSuffix(SigningKeyVerifier.hangingDigest) }.count }

    /// How many verifications of the hanging digest started before the first of `image`'s, or
    /// nil when `image` was not asked for.
    func heldBefore(_ image: String) -> Int? {
        let asked = asked
        guard let first = asked.firstIndex(of: image) else { return nil }
        return asked[..<first].filter { $0.hasSuffix(SigningKeyVerifier.hangingDigest) }.count
    }

    /// The verifications waiting now go on (and fail); later ones wait again.
    func releaseWaiting() { state.withLockedValue { $0.releases += 1 } }

    /// Every verification waiting, and every later one, goes on at once.
    func open() { state.withLockedValue { $0.open = true } }

    /// Notes that `image` was asked for.
    func ask(_ image: String) { state.withLockedValue { $0.asked.append(image) } }

    /// Waits (for a verification of the hanging digest) until released, opened or cancelled.
    func hold() async throws {
        let generation = state.withLockedValue { $0.open ? nil : $0.releases }
        guard let generation else { return }
        while state.withLockedValue({ !$0.open && $0.releases == generation }) {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// A verifier double standing for a key authority: an image passes an authority named
/// ``signingKey`` when it is pinned to ``signedDigest`` (the digest that key signed), cannot be
/// verified at ``unreachableDigest`` (its registry refuses it) nor at ``hangingDigest`` (its
/// registry answers only when ``registry`` lets it, and then not: see ``HeldRegistry``), and
/// fails every other authority and digest; an image named by the tag ``signedTag`` alone
/// resolves to ``signedDigest``.
struct SigningKeyVerifier: AuthorityVerifier {
    static let signingKey = "release"
    static let signedDigest = "sha256:" + String(repeating: "a", count: 64)
    static let unsignedDigest = "sha256:" + String(repeating: "b", count: 64)
    static let unreachableDigest = "sha256:" + String(repeating: "c", count: 64)
    static let hangingDigest = "sha256:" + String(repeating: "d", count: 64)
    /// A tag that resolves now to ``signedDigest``.
    static let signedTag = "signed"
    /// Where verifications of ``hangingDigest`` wait, and what was asked.
    var registry = HeldRegistry()
    /// While it holds true, the registry answers nothing: every verification fails transiently.
    var registryDown = NIOLockedValueBox(false)

    struct RegistryUnreachable: TransientVerificationFailure, CustomStringConvertible {
        var description: String { "registry.example did not answer (connection timed out)" }
        var isTransient: Bool { true }
    }

    func verify(image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant) async throws -> AuthorityVerdict {
        registry.ask(image.description)
        if image.digest?.description == Self.unreachableDigest || registryDown.withLockedValue({ $0 }) { throw RegistryUnreachable() }
        if image.digest?.description == Self.hangingDigest {
            try await registry.hold()
            throw RegistryUnreachable()
        }
        if image.digest == nil, image.tag == Self.signedTag, authority.name == Self.signingKey {
            return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by key \(authority.name)", digest: try ImageDigest(parsing: Self.signedDigest))
        }
        guard authority.name == Self.signingKey, image.digest?.description == Self.signedDigest else {
            return AuthorityVerdict(passed: false, authority: authority.name, reason: "no signature by key \(authority.name) for \(image)")
        }
        return AuthorityVerdict(passed: true, authority: authority.name, reason: "signed by key \(authority.name)", digest: image.digest)
    }
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let instant: NIOLockedValueBox<Date>
    init(_ start: Date) { instant = NIOLockedValueBox(start) }
    func advance(to date: Date) { instant.withLockedValue { $0 = date } }
    var policyClock: PolicyClock { PolicyClock { self.instant.withLockedValue { $0 } } }
}

enum ScanFixtures {
    static let publicKeyPEM = TestKeys.unusedP256PublicKeyPEM

    /// `registry.example/**` must be signed by the authority named `authority` (a key).
    static func policy(authority: String) -> String {
        let pem = publicKeyPEM.split(separator: "\n").map { "                " + $0 }.joined(separator: "\n")
        return """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: release-signed
            spec:
              images:
                - glob: "registry.example/**"
              authorities:
                - name: \(authority)
                  key:
                    publicKeys:
                      - pem: |
            \(pem)
            """
    }

    static let exception = """
        apiVersion: signet.dev/v1alpha1
        kind: PolicyException
        metadata:
          name: legacy-batch
          namespace: billing
        spec:
          policies: [release-signed]
          images:
            - glob: "registry.example/legacy:*"
          reason: rebuilt with signing next quarter
          approvedBy: security
          validUntil: "2026-12-01T00:00:00Z"
        """

    static let bypass = """
        apiVersion: signet.dev/v1alpha1
        kind: EmergencyBypass
        metadata:
          name: incident-7
        spec:
          namespaces: [ops]
          reason: signing service down
          requestedBy: oncall
          expiresAt: "2026-12-01T06:00:00Z"
        """

    static func policies(_ documents: String...) throws -> PolicySet {
        try PolicyLoader().load(files: [PolicySourceFile(name: "scan.yaml", bytes: Array(documents.joined(separator: "\n---\n").utf8))])
    }

    /// A scanner deciding with `policies` at the time `clock` says.
    static func scanner(
        _ policies: PolicySet, clock: ManualClock, deadline: Duration = .seconds(600), verifier: SigningKeyVerifier = SigningKeyVerifier()
    ) -> PodScanner {
        var exemptions = ExemptionConfiguration()
        exemptions.clock = clock.policyClock
        let evaluator = PolicyEvaluator(policies: policies, noMatchAction: .deny, verifier: verifier, exemptions: exemptions)
        var responder = AdmissionResponder(evaluator: evaluator)
        responder.resourceValidator = SignetResourceValidator(configuration: exemptions)
        // A deadline no slow run reaches (the default 28 s ran out under ThreadSanitizer with the
        // whole suite beside it): these tests are about results, not about the deadline.
        return PodScanner(responder: responder, concurrency: 2, deadline: deadline, formats: { _ in ["key"] })
    }

    /// A running Pod whose container `app` runs `image` at `digest` (as the kubelet reports it).
    static func pod(
        _ name: String, namespace: String, image: String, runningDigest digest: String?, phase: String = "Running",
        imageVolume: String? = nil, mountedVolumeDigest: String? = nil, initMountedVolumeDigest: String? = nil
    ) -> RunningPod {
        var status: [String: Any] = ["phase": phase, "startTime": "2026-11-30T12:00:00Z"]
        if let digest {
            let repository = image.split(separator: ":").first.map(String.init) ?? image
            var containerStatus: [String: Any] = ["name": "app", "image": image, "imageID": "\(repository)@\(digest)", "ready": true]
            if let mountedVolumeDigest, let imageVolume {
                // As the kubelet reports an image volume's digest (Kubernetes 1.35+, ImageVolumeWithDigest).
                let volumeRepository = imageVolume.split(separator: ":").first.map(String.init) ?? imageVolume
                containerStatus["volumeMounts"] = [
                    ["name": "models", "mountPath": "/models", "readOnly": true, "volumeStatus": ["image": ["imageRef": "\(volumeRepository)@\(mountedVolumeDigest)"]]],
                ]
            }
            status["containerStatuses"] = [containerStatus]
            if let initMountedVolumeDigest, let imageVolume {
                let volumeRepository = imageVolume.split(separator: ":").first.map(String.init) ?? imageVolume
                status["initContainerStatuses"] = [[
                    "name": "init", "image": image, "imageID": "\(repository)@\(digest)",
                    "volumeMounts": [["name": "models", "mountPath": "/models", "volumeStatus": ["image": ["imageRef": "\(volumeRepository)@\(initMountedVolumeDigest)"]]]],
                ]]
            }
        }
        var spec: [String: Any] = ["containers": [["name": "app", "image": image]]]
        if let imageVolume { spec["volumes"] = [["name": "models", "image": ["reference": imageVolume]]] }
        let object: [String: Any] = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": name, "namespace": namespace, "uid": "uid-\(name)"],
            "spec": spec,
            "status": status,
        ]
        return RunningPod(json: Array(try! JSONSerialization.data(withJSONObject: object)))!
    }
}
