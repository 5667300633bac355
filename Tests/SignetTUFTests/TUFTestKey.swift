import Foundation
import SignetCrypto
import SignetTestSupport
import SignetTUF

/// A signing key a test makes with the openssl CLI, in one of the TUF specification's key
/// types, and the metadata entry (`KEY`, section 4.2) that names it.
struct TUFTestKey: Sendable {
    enum Kind: Sendable, CaseIterable {
        case ed25519, ecdsaP256, ecdsaP384, rsaPSS
    }

    let kind: Kind
    let privateKeyPath: String
    /// `keyval.public` as the specification writes it for this type.
    let publicValue: String
    let directory: String

    var keyType: String {
        switch kind {
        case .ed25519: "ed25519"
        case .ecdsaP256, .ecdsaP384: "ecdsa"
        case .rsaPSS: "rsa"
        }
    }

    var scheme: String {
        switch kind {
        case .ed25519: "ed25519"
        case .ecdsaP256: "ecdsa-sha2-nistp256"
        case .ecdsaP384: "ecdsa-sha2-nistp384"
        case .rsaPSS: "rsassa-pss-sha256"
        }
    }

    /// The key's metadata entry.
    var json: JSONValue {
        .object(["keytype": .string(keyType), "scheme": .string(scheme), "keyval": .object(["public": .string(publicValue)])])
    }

    /// The key ID: SHA-256 of the canonical entry, as python-tuf computes it.
    var id: String {
        DigestAlgorithm.sha256.hexHash(try! OLPCCanonicalJSON().encode(json))
    }

    static func make(_ kind: Kind, in directory: TemporaryDirectory) async throws -> TUFTestKey {
        let name = "key-\(UUID().uuidString.prefix(8))"
        let privatePath = directory.file("\(name).pem").path
        let generate: [String]
        switch kind {
        case .ed25519: generate = ["-algorithm", "ed25519"]
        case .ecdsaP256: generate = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        case .ecdsaP384: generate = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
        case .rsaPSS: generate = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        }
        try await openssl(["genpkey"] + generate + ["-out", privatePath])
        let publicValue: String
        if kind == .ed25519 {
            let derPath = directory.file("\(name).pub.der").path
            try await openssl(["pkey", "-in", privatePath, "-pubout", "-outform", "DER", "-out", derPath])
            publicValue = Hex.encode(try Data(contentsOf: URL(fileURLWithPath: derPath)).suffix(32))
        } else {
            let pemPath = directory.file("\(name).pub.pem").path
            try await openssl(["pkey", "-in", privatePath, "-pubout", "-out", pemPath])
            publicValue = try String(contentsOfFile: pemPath, encoding: .utf8)
        }
        return TUFTestKey(kind: kind, privateKeyPath: privatePath, publicValue: publicValue, directory: directory.path)
    }

    /// A signature over `message` in this key's scheme.
    func sign(_ message: [UInt8]) async throws -> [UInt8] {
        let base = "\(directory)/msg-\(UUID().uuidString.prefix(8))"
        try Data(message).write(to: URL(fileURLWithPath: base))
        let arguments: [String]
        switch kind {
        case .ed25519: arguments = ["pkeyutl", "-sign", "-rawin", "-inkey", privateKeyPath, "-in", base, "-out", base + ".sig"]
        case .ecdsaP256: arguments = ["dgst", "-sha256", "-sign", privateKeyPath, "-out", base + ".sig", base]
        case .ecdsaP384: arguments = ["dgst", "-sha384", "-sign", privateKeyPath, "-out", base + ".sig", base]
        case .rsaPSS:
            arguments = ["dgst", "-sha256", "-sign", privateKeyPath, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-out", base + ".sig", base]
        }
        try await Self.openssl(arguments)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".sig")))
    }

    private static func openssl(_ arguments: [String]) async throws {
        let result = try await TestProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
    }
}

extension JSONValue {
    /// A metadata document: `signed` with signatures by `keys`, as canonical JSON bytes.
    static func signedDocument(_ signed: JSONValue, by keys: [TUFTestKey]) async throws -> [UInt8] {
        let message = try OLPCCanonicalJSON().encode(signed)
        var signatures: [JSONValue] = []
        for key in keys {
            signatures.append(.object(["keyid": .string(key.id), "sig": .string(Hex.encode(try await key.sign(message)))]))
        }
        return JSONValue.object(["signed": signed, "signatures": .array(signatures)]).jsonBytes
    }
}

extension JSONValue {
    /// Plain JSON (RFC 8259) with sorted members, as repositories write files: unlike canonical
    /// JSON, control characters such as the newlines of PEM keys are escaped.
    var jsonBytes: [UInt8] {
        var output = ""
        func write(_ value: JSONValue) {
            switch value {
            case .null: output += "null"
            case .bool(let flag): output += flag ? "true" : "false"
            case .integer(let number): output += String(number)
            case .number(let text): output += text
            case .string(let text):
                output += "\""
                for scalar in text.unicodeScalars {
                    switch scalar {
                    case "\"": output += "\\\""
                    case "\\": output += "\\\\"
                    case "\n": output += "\\n"
                    case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
                    default: output.unicodeScalars.append(scalar)
                    }
                }
                output += "\""
            case .array(let elements):
                output += "["
                for (position, element) in elements.enumerated() {
                    if position > 0 { output += ", " }
                    write(element)
                }
                output += "]"
            case .object(let members):
                output += "{"
                for (position, name) in members.keys.sorted().enumerated() {
                    if position > 0 { output += ", " }
                    write(.string(name))
                    output += ": "
                    write(members[name]!)
                }
                output += "}"
            }
        }
        write(self)
        return Array(output.utf8)
    }
}
