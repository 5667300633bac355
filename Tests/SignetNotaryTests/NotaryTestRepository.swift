import Foundation
import SignetCrypto
import SignetNotary
import SignetTUF
import SignetTestSupport

/// A Notary v1 repository a test makes itself: one key, carried as a self-signed certificate
/// (`ecdsa-x509` or `rsa-x509`, as the Notary client makes root keys), signs root, targets,
/// snapshot and timestamp, each written as Notary writes them (canonical JSON of `signed`,
/// base64 hashes, capitalised `_type`). The certificate's validity starts when the test runs and
/// lasts `days`; the metadata expires in 2100, so only the certificate's dates are in play.
struct NotaryTestRepository {
    enum KeyKind { case ecdsa, rsa }

    let gun: String
    let kind: KeyKind
    let directory: TemporaryDirectory
    let keyPath: String
    let certificate: Certificate
    /// How `rsapss` signatures are salted (Notary uses 32 bytes).
    var pssSaltLength = 32

    static func make(gun: String, kind: KeyKind, days: Int = 1) async throws -> NotaryTestRepository {
        let directory = TemporaryDirectory(prefix: "signet-notary-repo")
        let keyPath = directory.file("root.key").path
        let certificatePath = directory.file("root.crt").path
        let generate = kind == .ecdsa ? ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        try await openssl(["genpkey"] + generate + ["-out", keyPath])
        try await openssl(["req", "-new", "-x509", "-key", keyPath, "-out", certificatePath, "-days", String(days), "-subj", "/CN=" + gun.replacingOccurrences(of: "/", with: "\\/")])
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
        return NotaryTestRepository(gun: gun, kind: kind, directory: directory, keyPath: keyPath, certificate: certificate)
    }

    /// The key entry as root.json lists it, and its ID.
    var key: (id: String, json: JSONValue) {
        let json = JSONValue.object([
            "keytype": .string(kind == .ecdsa ? "ecdsa-x509" : "rsa-x509"),
            "keyval": .object(["public": .string(Data(certificate.pemEncoded.utf8).base64EncodedString()), "private": .null]),
        ])
        return (DigestAlgorithm.sha256.hexHash(try! OLPCCanonicalJSON().encode(json)), json)
    }

    /// root, targets (`v1` → `digest`), snapshot and timestamp, signed; `targets` delegates to
    /// each of `delegations` (this repository's key, every path), none of which is published.
    /// `root`, when given, is served instead of this repository's own (``rootFile(version:rootKeys:signers:)``);
    /// each role in `published` (a delegation, or `targets` itself) is published signing `tag`, expiring at its date.
    func files(
        tag: String = "v1", digest: [UInt8] = Array(repeating: 7, count: 32), length: Int = 1234, delegations: [String] = [],
        root given: [UInt8]? = nil, published: [String: String] = [:]
    ) async throws -> [String: [UInt8]] {
        let expires = JSONValue.string("2100-01-01T00:00:00Z")
        var root = given ?? []
        if given == nil { root = try await rootFile(version: 1, rootKeys: [self], signers: [self]) }
        var targetsSigned: [String: JSONValue] = [
            "_type": .string("Targets"), "expires": expires, "version": .integer(1),
            "targets": .object([tag: .object(["length": .integer(Int64(length)), "hashes": .object(["sha256": .string(Data(digest).base64EncodedString())])])]),
        ]
        if !delegations.isEmpty {
            targetsSigned["delegations"] = .object([
                "keys": .object([key.id: key.json]),
                "roles": .array(delegations.map { name in
                    .object(["name": .string(name), "keyids": .array([.string(key.id)]), "threshold": .integer(1), "paths": .array([.string("")])])
                }),
            ])
        }
        let targets = try await signed(.object(targetsSigned))
        var meta: [String: JSONValue] = ["root": Self.meta(root), "targets": Self.meta(targets)]
        var delegated: [String: [UInt8]] = [:]
        for (name, until) in published {
            var role = targetsSigned
            role["expires"] = .string(until)
            role["delegations"] = nil
            delegated[name] = try await signed(.object(role))
            meta[name] = Self.meta(delegated[name]!)
        }
        let snapshot = try await signed(.object([
            "_type": .string("Snapshot"), "expires": expires, "version": .integer(1), "meta": .object(meta),
        ]))
        let timestamp = try await signed(.object([
            "_type": .string("Timestamp"), "expires": expires, "version": .integer(1), "meta": .object(["snapshot": Self.meta(snapshot)]),
        ]))
        return ["root": root, "targets": targets, "snapshot": snapshot, "timestamp": timestamp].merging(delegated) { _, published in published }
    }

    /// A root.json of `version` whose root role is `rootKeys` (threshold 1) and whose other
    /// roles are this repository's key, signed by each of `signers`.
    func rootFile(version: Int, rootKeys: [NotaryTestRepository], signers: [NotaryTestRepository]) async throws -> [UInt8] {
        let role = JSONValue.object(["keyids": .array([.string(key.id)]), "threshold": .integer(1)])
        let rootRole = JSONValue.object(["keyids": .array(rootKeys.map { .string($0.key.id) }), "threshold": .integer(1)])
        var keys = [key.id: key.json]
        for rootKey in rootKeys { keys[rootKey.key.id] = rootKey.key.json }
        return try await Self.signed(.object([
            "_type": .string("Root"), "consistent_snapshot": .bool(false), "expires": .string("2100-01-01T00:00:00Z"), "version": .integer(Int64(version)),
            "keys": .object(keys), "roles": .object(["root": rootRole, "targets": role, "snapshot": role, "timestamp": role]),
        ]), by: signers)
    }

    static func meta(_ file: [UInt8]) -> JSONValue {
        .object(["length": .integer(Int64(file.count)), "hashes": .object(["sha256": .string(Data(DigestAlgorithm.sha256.hash(file)).base64EncodedString())])])
    }

    /// `{"signed": ..., "signatures": [...]}` with this repository's key.
    func signed(_ signed: JSONValue) async throws -> [UInt8] {
        try await Self.signed(signed, by: [self])
    }

    /// `{"signed": ..., "signatures": [...]}` with each of `signers`' keys.
    static func signed(_ signed: JSONValue, by signers: [NotaryTestRepository]) async throws -> [UInt8] {
        let message = try OLPCCanonicalJSON().encode(signed)
        var signatures: [JSONValue] = []
        for signer in signers {
            signatures.append(.object([
                "keyid": .string(signer.key.id), "method": .string(signer.kind == .ecdsa ? "ecdsa" : "rsapss"),
                "sig": .string(Data(try await signer.sign(message)).base64EncodedString()),
            ]))
        }
        return try OLPCCanonicalJSON().encode(JSONValue.object(["signed": signed, "signatures": .array(signatures)]))
    }

    /// Notary's signature over `message`: raw `r‖s` for ECDSA, RSA-PSS (SHA-256, MGF1-SHA256,
    /// ``pssSaltLength``) for RSA.
    func sign(_ message: [UInt8]) async throws -> [UInt8] {
        let input = directory.file("message-\(UUID().uuidString)").path
        let output = input + ".sig"
        try Data(message).write(to: URL(fileURLWithPath: input))
        var arguments = ["dgst", "-sha256", "-sign", keyPath, "-out", output]
        if kind == .rsa {
            arguments += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:\(pssSaltLength)", "-sigopt", "rsa_mgf1_md:sha256"]
        }
        try await Self.openssl(arguments + [input])
        let signature = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        guard kind == .ecdsa else { return signature }
        guard let sequence = DER.element(signature), let parts = sequence.children, parts.count == 2 else {
            throw TestProcessError(message: "openssl wrote no ECDSA-Sig-Value")
        }
        return parts.flatMap { part -> [UInt8] in
            let trimmed = Array(part.content.drop { $0 == 0 })
            return [UInt8](repeating: 0, count: 32 - trimmed.count) + trimmed
        }
    }

    static func openssl(_ arguments: [String]) async throws {
        let result = try await TestProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments[0]): \(result.stderr)") }
    }
}
