import Foundation
import SignetSigstore
import SignetTestSupport
import Testing

/// RFC 6962 inclusion and consistency proofs from transparency-dev/merkle `testdata`.
@Suite("Merkle proofs (transparency-dev/merkle vectors)")
struct MerkleTreeTests {
    struct InclusionVector: Decodable {
        var leafIdx: UInt64
        var treeSize: UInt64
        var root: String?
        var leafHash: String?
        var proof: [String]?
        var desc: String
        var wantErr: Bool
    }

    struct ConsistencyVector: Decodable {
        var size1: UInt64
        var size2: UInt64
        var root1: String?
        var root2: String?
        var proof: [String]?
        var desc: String
        var wantErr: Bool
    }

    static func files(_ kind: String) -> [URL] {
        let base = TestPaths.vectors.appendingPathComponent("merkle/testdata/\(kind)")
        guard let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        return enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    static func bytes(_ text: String?) -> [UInt8] {
        text.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
    }

    @Test("inclusion proofs")
    func inclusion() throws {
        let files = Self.files("inclusion")
        #expect(files.count > 20)
        for file in files {
            let vector = try JSONDecoder().decode(InclusionVector.self, from: Data(contentsOf: file))
            let verified = MerkleTree.verifyInclusion(
                index: vector.leafIdx, treeSize: vector.treeSize, leafHash: Self.bytes(vector.leafHash),
                proof: (vector.proof ?? []).map { Self.bytes($0) }, root: Self.bytes(vector.root))
            #expect(verified == !vector.wantErr, "\(file.pathComponents.suffix(2).joined(separator: "/")): \(vector.desc)")
        }
    }

    @Test("consistency proofs")
    func consistency() throws {
        let files = Self.files("consistency")
        #expect(files.count > 20)
        for file in files {
            let vector = try JSONDecoder().decode(ConsistencyVector.self, from: Data(contentsOf: file))
            let verified = MerkleTree.verifyConsistency(
                size1: vector.size1, size2: vector.size2, root1: Self.bytes(vector.root1), root2: Self.bytes(vector.root2),
                proof: (vector.proof ?? []).map { Self.bytes($0) })
            #expect(verified == !vector.wantErr, "\(file.pathComponents.suffix(2).joined(separator: "/")): \(vector.desc)")
        }
    }
}
