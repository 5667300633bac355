import Foundation
import SignetAdmission
import SignetPolicy
import SignetRegistry

/// What a scan found for one container of a running Pod: the result admission would give its
/// running image now, in the vocabulary of the Policy WG's PolicyReport (`wgpolicyk8s.io/v1alpha2`
/// `PolicyReportResult.result`).
public struct ImageFinding: Sendable, Hashable, Codable {
    /// `pass`: admission would allow it with a trusted signature; `fail`: admission would deny
    /// it; `warn`: admission would allow it with a warning (a `Warn` policy failed, or no policy
    /// covers it under the `warn` no-match action); `skip`: admitted unverified by a
    /// PolicyException, an EmergencyBypass, the namespace opt-out or the `allow` no-match action;
    /// `error`: admission would deny it now only because verification could not finish (a
    /// registry, log or CRL did not answer, or answered with an error): not known untrusted, not
    /// known trusted.
    public typealias Result = ImageVerificationResult

    public var namespace: String
    public var pod: String
    public var podUID: String?
    /// The container's name, or the image volume's when ``isImageVolume``.
    public var container: String
    /// The image is an image volume's (`volumes[].image.reference`), not a container's; `nil`
    /// (a container) in findings recorded before image volumes were decided.
    public var imageVolume: Bool?
    /// The image decided (the running digest, when the node reported one).
    public var image: String
    public var result: Result
    /// The policies that cover the image (empty when none does).
    public var policies: [String]
    /// Why, in admission's words.
    public var reason: String
    /// The PolicyException or EmergencyBypass that applies, as audit records name it.
    public var exemption: String?
    /// Whether an EmergencyBypass admitted the image.
    public var bypassed: Bool
    /// The signature formats of the policies' authorities that decided (bounded: key, keyless,
    /// notation, notaryV1, attestations, static).
    public var formats: [String]
    /// When the Pod started (`status.startTime`), when known.
    public var podStartTime: Date?

    /// Whether the image is known untrusted: admission would deny it now for what its
    /// signatures are (`fail`), not for a verification that could not finish (`error`).
    public var isUntrusted: Bool { result == .fail }

    /// Whether verification could not finish (`error`).
    public var isUnverifiable: Bool { result == .error }

    /// The ``RunningPod/key`` of the Pod: its UID, else `namespace/pod`.
    public var podKey: String { podUID ?? "\(namespace)/\(pod)" }

    /// Whether the image is an image volume's.
    public var isImageVolume: Bool { imageVolume == true }

    /// `namespace/pod/container`, or `namespace/pod/volume:name` for an image volume.
    public var location: String { "\(namespace)/\(pod)/\(isImageVolume ? "volume:" : "")\(container)" }
}

extension ImageFinding {
    /// The finding for one verdict of an admission decision of `pod`; `formats` are the
    /// authority kinds of the verdict's policies.
    init(verdict: AdmissionAuditRecord.Image, pod: RunningPod, formats: [String]) {
        namespace = pod.namespace
        self.pod = pod.name
        podUID = pod.uid
        container = verdict.container
        imageVolume = verdict.containerType == ContainerType.imageVolume.rawValue ? true : nil
        image = verdict.reference ?? verdict.image
        policies = verdict.policies
        reason = verdict.reason
        exemption = verdict.exemptions.first.map(\.description)
        bypassed = verdict.exemptions.contains { $0.kind == .emergencyBypass }
        self.formats = formats
        podStartTime = pod.startTime
        result = Self.result(of: verdict)
    }

    /// Admission's outcome as a report result: a deny fails (or is an error, when it hangs on
    /// verifications that could not finish); a warning (or an `Audit` policy's
    /// failure) warns; an allow under an exemption, of an image no policy covers, or of one no
    /// covering policy is enforced for here (no authority consulted), is skipped; any other
    /// allow passed its policies.
    static func result(of verdict: AdmissionAuditRecord.Image) -> Result {
        Result(
            outcome: ImageOutcome(rawValue: verdict.verdict), exempt: !verdict.exemptions.isEmpty, evaluated: !verdict.authorities.isEmpty,
            undecided: verdict.undecided == true)
    }

    /// A container of a pod admission let in unevaluated (the namespace opt-out).
    init(unevaluated container: RunningPod.Container, pod: RunningPod, reason: String) {
        namespace = pod.namespace
        self.pod = pod.name
        podUID = pod.uid
        self.container = UntrustedText.shown(containerName: container.name)
        imageVolume = container.isImageVolume ? true : nil
        // Shown as verdicts show images: a pod spec's image is anyone's text, and escape
        // sequences in it would reach the terminal of whoever reads `signet scan`'s table.
        image = UntrustedText.shown(image: container.runningImage)
        policies = []
        self.reason = reason
        exemption = nil
        bypassed = false
        formats = []
        podStartTime = pod.startTime
        result = .skip
    }
}
