import SignetCrypto

/// The length and hash checks of fetched files (TUF specification sections 5.5.2 and 5.6.2 for
/// metadata, 5.7.3 for targets): the file must have exactly the trusted length and every
/// trusted hash the client can compute must match.
public enum MetadataFileCheck {
    /// Throws ``TUFError/Code/lengthMismatch`` or ``TUFError/Code/hashMismatch``. With `hashes`
    /// empty only the length is checked; with a length of nil only the hashes. Hashes of
    /// algorithms the client cannot compute are skipped, but at least one of `hashes` must be
    /// computable when any are given.
    public static func verify(_ bytes: [UInt8], length: Int?, hashes: [String: String], name: String) throws(TUFError) {
        if let length, bytes.count != length {
            throw TUFError(.lengthMismatch, "\(name) is \(bytes.count) bytes, the trusted length is \(length)")
        }
        guard !hashes.isEmpty else { return }
        var checked = 0
        for (algorithmName, expected) in hashes.sorted(by: { $0.key < $1.key }) {
            guard let algorithm = DigestAlgorithm(rawValue: algorithmName) else { continue }
            checked += 1
            let actual = algorithm.hexHash(bytes)
            guard actual == expected.lowercased() else {
                throw TUFError(.hashMismatch, "\(name) has \(algorithmName) \(actual), the trusted hash is \(expected)")
            }
        }
        guard checked > 0 else {
            throw TUFError(.hashMismatch, "\(name): none of the hash algorithms \(hashes.keys.sorted()) is supported")
        }
    }
}
