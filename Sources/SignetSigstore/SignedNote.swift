import SignetCrypto

/// A signed note (C2SP `signed-note`): UTF-8 text ending in a newline, a blank line, then one or
/// more signature lines `— <name> <base64(key hash (4 bytes) || signature)>`.
public struct SignedNote: Sendable, Hashable {
    /// One signature line.
    public struct Signature: Sendable, Hashable {
        public var name: String
        /// The first four bytes: the signer's key hash.
        public var keyHash: [UInt8]
        public var signature: [UInt8]
    }

    /// The signed text, including its final newline.
    public var text: String
    public var signatures: [Signature]

    /// The most signature lines a note may carry (C2SP `signed-note` leaves the number open; a
    /// checkpoint carries its log's and perhaps a few witnesses').
    public static let maximumSignatures = 16

    /// Parses a note; nil when it is not in signed-note form or has more signature lines.
    public init?(_ note: String) {
        guard let separator = note.range(of: "\n\n") else { return nil }
        text = String(note[..<separator.lowerBound]) + "\n"
        let rest = note[separator.upperBound...]
        guard rest.hasSuffix("\n") else { return nil }
        var signatures: [Signature] = []
        let lines = rest.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        // Each line whose key hash matches costs a signature check, and key hashes are public.
        guard lines.count <= Self.maximumSignatures else { return nil }
        for line in lines {
            guard line.hasPrefix("\u{2014} ") else { return nil }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, let bytes = Base64.decode(String(fields[1])), bytes.count > 4 else {
                return nil
            }
            signatures.append(Signature(name: String(fields[0]), keyHash: Array(bytes.prefix(4)), signature: Array(bytes.dropFirst(4))))
        }
        guard !signatures.isEmpty else { return nil }
        self.signatures = signatures
    }

    /// Whether a signature line with `keyHash` verifies over ``text`` with `key` under `scheme`
    /// (the log key's details in the trusted root: ECDSA P-384 signs with SHA-384).
    public func isSigned(keyHash: [UInt8], key: PublicKey, scheme: SignatureScheme = SignatureScheme()) -> Bool {
        let message = Array(text.utf8)
        return signatures.contains { $0.keyHash == keyHash && key.verify(signature: $0.signature, message: message, scheme: scheme) }
    }
}

/// A transparency log checkpoint (C2SP `tlog-checkpoint`): the body of a signed note with the
/// origin, the tree size and the base64 root hash on the first three lines, then optional
/// extension lines.
public struct Checkpoint: Sendable, Hashable {
    public var origin: String
    public var treeSize: UInt64
    public var rootHash: [UInt8]
    public var note: SignedNote

    /// Parses a checkpoint; nil when the note or its body is malformed.
    public init?(_ text: String) {
        guard let note = SignedNote(text) else { return nil }
        let lines = note.text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3, !lines[0].isEmpty,
              let size = UInt64(lines[1]), String(size) == lines[1],
              let root = Base64.decode(String(lines[2])), root.count == 32 else { return nil }
        origin = String(lines[0])
        treeSize = size
        rootHash = root
        self.note = note
    }
}
