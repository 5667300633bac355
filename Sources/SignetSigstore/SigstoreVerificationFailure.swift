/// Why a Sigstore bundle did not verify: a verdict, not an exception. A struct over a private code
/// so that new reasons do not break callers; ``step`` says which verification step refused.
public struct SigstoreVerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case entryBody(String)
        case transparencyLog(String)
        case timestamp(String)
        case certificateChain(String)
        case certificateTransparency(String)
        case signature(String)
        case identity(String)
        case material(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    /// The step that refused.
    public var step: SigstoreVerificationStep.Kind {
        switch code {
        case .entryBody, .transparencyLog: .transparencyLog
        case .timestamp: .timestamps
        case .certificateChain: .certificateChain
        case .certificateTransparency: .certificateTransparency
        case .signature, .material: .signature
        case .identity: .identity
        }
    }

    public var description: String {
        switch code {
        case .entryBody(let reason): "transparency log entry body: \(reason)"
        case .transparencyLog(let reason): "transparency log: \(reason)"
        case .timestamp(let reason): "timestamps: \(reason)"
        case .certificateChain(let reason): "certificate chain: \(reason)"
        case .certificateTransparency(let reason): "certificate transparency: \(reason)"
        case .signature(let reason): "signature: \(reason)"
        case .identity(let reason): "identity: \(reason)"
        case .material(let reason): "verification material: \(reason)"
        }
    }
}
