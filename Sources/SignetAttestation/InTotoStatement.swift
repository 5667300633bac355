import SignetJSON
/// An in-toto Statement (in-toto Attestation Framework, `spec/v1/statement.md`; and v0.1,
/// `https://in-toto.io/Statement/v0.1`): the subjects it is about, each named by digests, the
/// predicate's type and the predicate.
///
/// Read only from the payload of a DSSE envelope whose signature has been verified
/// (`payloadType` `application/vnd.in-toto+json`).
public struct InTotoStatement: Sendable {
    /// The statement types accepted.
    public static let statementTypes: Set<String> = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"]
    /// The DSSE payload type of an in-toto statement.
    public static let payloadType = "application/vnd.in-toto+json"

    /// One subject: a name and digests by algorithm (lowercase hexadecimal).
    public struct Subject: Sendable, Hashable {
        public var name: String?
        public var digest: [String: String]
    }

    public let type: String
    public let subjects: [Subject]
    public let predicateType: String
    public let predicate: AttestationValue

    /// Parses a statement; the error says what is wrong in on-call words.
    public init(json bytes: [UInt8]) throws(AttestationError) {
        let document: AttestationValue
        do {
            document = try AttestationValue.read(json: bytes)
        } catch let refusal as UntrustedJSON.Refusal {
            throw AttestationError("the DSSE payload is refused: \(refusal)")
        } catch {
            throw AttestationError("the DSSE payload is not a JSON object")
        }
        guard case .object = document else { throw AttestationError("the DSSE payload is not a JSON object") }
        guard case .string(let type)? = document["_type"], Self.statementTypes.contains(type) else {
            throw AttestationError("the payload is not an in-toto statement (_type \(document["_type"].map { "\($0.scalar)" } ?? "missing"))")
        }
        guard case .string(let predicateType)? = document["predicateType"], !predicateType.isEmpty else {
            throw AttestationError("the statement has no predicateType")
        }
        guard case .array(let entries)? = document["subject"], !entries.isEmpty else {
            throw AttestationError("the statement has no subject")
        }
        var subjects: [Subject] = []
        for entry in entries {
            guard case .object(let digests)? = entry["digest"] else { throw AttestationError("a statement subject has no digest") }
            var digest: [String: String] = [:]
            for (algorithm, value) in digests {
                guard case .string(let hex) = value else { throw AttestationError("a statement subject's \(algorithm) digest is not a string") }
                digest[algorithm] = hex.lowercased()
            }
            var name: String?
            if case .string(let text)? = entry["name"] { name = text }
            subjects.append(Subject(name: name, digest: digest))
        }
        self.type = type
        self.subjects = subjects
        self.predicateType = predicateType
        self.predicate = document["predicate"] ?? .null
    }

    /// Whether a subject names the digest `algorithm:hex` (for example the image's manifest digest).
    public func hasSubject(algorithm: String, hex: String) -> Bool {
        subjects.contains { $0.digest[algorithm] == hex.lowercased() }
    }
}

/// Why an attestation or a condition could not be read. Carries a readable reason.
public struct AttestationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
