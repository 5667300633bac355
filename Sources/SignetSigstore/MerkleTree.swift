import SignetCrypto

/// Merkle tree hashing and proof verification for append-only logs (RFC 6962 section 2.1,
/// algorithms as restated in RFC 9162 sections 2.1.3.2 and 2.1.4.2), with SHA-256.
public enum MerkleTree {
    /// `SHA-256(0x00 || leaf)`.
    public static func leafHash(_ leaf: [UInt8]) -> [UInt8] {
        DigestAlgorithm.sha256.hash([0] + leaf)
    }

    /// `SHA-256(0x01 || left || right)`.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        DigestAlgorithm.sha256.hash([1] + left + right)
    }

    /// The root an inclusion proof leads to for `leafHash` at `index` in a tree of `treeSize`
    /// leaves (RFC 9162 section 2.1.3.2); nil when the proof has the wrong shape.
    public static func rootFromInclusionProof(index: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]]) -> [UInt8]? {
        guard index < treeSize, leafHash.count == 32, proof.allSatisfy({ $0.count == 32 }) else { return nil }
        var fn = index
        var sn = treeSize - 1
        var result = leafHash
        for sibling in proof {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                result = nodeHash(sibling, result)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                result = nodeHash(result, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? result : nil
    }

    /// Whether `proof` shows `leafHash` at `index` in the tree of `treeSize` leaves with `root`.
    public static func verifyInclusion(index: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]) -> Bool {
        rootFromInclusionProof(index: index, treeSize: treeSize, leafHash: leafHash, proof: proof) == root
    }

    /// Whether `proof` shows that the tree of `size1` leaves with `root1` is a prefix of the tree
    /// of `size2` leaves with `root2` (RFC 9162 section 2.1.4.2).
    public static func verifyConsistency(size1: UInt64, size2: UInt64, root1: [UInt8], root2: [UInt8], proof: [[UInt8]]) -> Bool {
        // A proof from the empty tree proves nothing; transparency-dev/merkle refuses it.
        guard size1 > 0, size1 <= size2 else { return false }
        if size1 == size2 { return proof.isEmpty && root1 == root2 }
        guard !proof.isEmpty, root1.count == 32, root2.count == 32, proof.allSatisfy({ $0.count == 32 }) else { return false }
        var path = proof
        if size1 & (size1 - 1) == 0 { path.insert(root1, at: 0) }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var firstRoot = path[0]
        var secondRoot = path[0]
        for node in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                firstRoot = nodeHash(node, firstRoot)
                secondRoot = nodeHash(node, secondRoot)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                secondRoot = nodeHash(secondRoot, node)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && firstRoot == root1 && secondRoot == root2
    }
}
