import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport

/// A code-signing PKI made with the openssl CLI (root, optional intermediate, leaf with the
/// code-signing key purpose), and Notation envelopes signed with it (PS256), the way `notation
/// sign` or AWS Signer (scheme `notary.x509.signingAuthority`) write them.
final class NotationTestSigner: Sendable {
    let directory: TemporaryDirectory
    let root: Certificate
    let intermediate: Certificate?
    let leaf: Certificate
    var leafKey: String { directory.file("leaf.key").path }
    /// Whether the leaf key is ECDSA P-256 (ES256) rather than RSA 2048 (PS256).
    let ecdsa: Bool
    /// The RSASSA-PSS salt length of PS256 signatures (RFC 7518 section 3.5: the hash's, 32).
    let pssSaltLength: Int

    /// The X.509 v3 extensions of each certificate, in openssl's configuration syntax (one per
    /// line); the defaults meet the Notary Project's certificate requirements.
    struct Extensions: Sendable {
        var root = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
        var intermediate = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
        var leaf = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=codeSigning"]
    }

    /// `leafSubject` in openssl's `/C=../ST=../O=../CN=..` form (UTF-8).
    init(
        leafSubject: String = "/C=US/ST=WA/O=Acme/CN=signer", intermediate withIntermediate: Bool = false, ecdsa: Bool = false,
        extensions: Extensions = Extensions(), rootHash: String = "sha256", leafHash: String = "sha256", pssSaltLength: Int = 32
    ) throws {
        self.ecdsa = ecdsa
        self.pssSaltLength = pssSaltLength
        directory = TemporaryDirectory(prefix: "notation-pki")
        let dir = directory.path
        // An empty [req] extension section so that openssl adds no defaults of its own.
        try "[req]\ndistinguished_name=dn\nx509_extensions=root_ext\n[dn]\n[root_ext]\n\(extensions.root.joined(separator: "\n"))\n"
            .write(toFile: "\(dir)/root.cnf", atomically: true, encoding: .utf8)
        try Self.openssl(["req", "-x509", "-config", "\(dir)/root.cnf", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/root.key", "-out", "\(dir)/root.crt",
                          "-subj", "/C=US/ST=WA/O=Acme/CN=Acme Root", "-days", "3650", "-\(rootHash)"])
        try (extensions.intermediate.joined(separator: "\n") + "\n").write(toFile: "\(dir)/ca.ext", atomically: true, encoding: .utf8)
        try (extensions.leaf.joined(separator: "\n") + "\n").write(toFile: "\(dir)/leaf.ext", atomically: true, encoding: .utf8)
        var issuer = "root"
        if withIntermediate {
            try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/intermediate.key", "-out", "\(dir)/intermediate.csr",
                              "-subj", "/C=US/ST=WA/O=Acme/CN=Acme Signing Authority"])
            try Self.openssl(["x509", "-req", "-in", "\(dir)/intermediate.csr", "-CA", "\(dir)/root.crt", "-CAkey", "\(dir)/root.key",
                              "-set_serial", "2", "-days", "1825", "-extfile", "\(dir)/ca.ext", "-out", "\(dir)/intermediate.crt"])
            issuer = "intermediate"
        }
        let leafKeySpec = ecdsa ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"]
        try Self.openssl(["req"] + leafKeySpec + ["-nodes", "-utf8", "-keyout", "\(dir)/leaf.key", "-out", "\(dir)/leaf.csr", "-subj", leafSubject])
        try Self.openssl(["x509", "-req", "-in", "\(dir)/leaf.csr", "-CA", "\(dir)/\(issuer).crt", "-CAkey", "\(dir)/\(issuer).key",
                          "-set_serial", "3", "-days", "365", "-extfile", "\(dir)/leaf.ext", "-out", "\(dir)/leaf.crt", "-\(leafHash)"])
        func read(_ name: String) throws -> Certificate { try Certificate(pemEncoded: String(contentsOfFile: "\(dir)/\(name).crt", encoding: .utf8)) }
        root = try read("root")
        intermediate = withIntermediate ? try read("intermediate") : nil
        leaf = try read("leaf")
    }

    /// The chain as `x5c` carries it: leaf, intermediate, root.
    var chain: [Certificate] { [leaf] + (intermediate.map { [$0] } ?? []) + [root] }

    /// A time inside every certificate's validity (an hour after the leaf's start).
    var validTime: Date { leaf.notValidBefore.addingTimeInterval(3600) }

    static let target = NotationTarget(
        digest: "sha256:" + String(repeating: "ab", count: 32), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1234)

    static func payload(_ target: NotationTarget = target) -> [UInt8] {
        Array(#"{"targetArtifact":{"digest":"\#(target.digest)","mediaType":"\#(target.mediaType)","size":\#(target.size)}}"#.utf8)
    }

    /// RSASSA-PSS SHA-256 (salt length ``pssSaltLength``) over `message` with the leaf key.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        let input = directory.file("message-\(UUID().uuidString)")
        let output = directory.file("signature-\(UUID().uuidString)")
        try Data(message).write(to: input)
        guard ecdsa else {
            try Self.openssl(["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:\(pssSaltLength)", "-sign", leafKey, "-out", output.path, input.path])
            return [UInt8](try Data(contentsOf: output))
        }
        // ECDSA: openssl writes DER (RFC 3279); JWS and COSE carry r || s (RFC 7518 section 3.4).
        try Self.openssl(["dgst", "-sha256", "-sign", leafKey, "-out", output.path, input.path])
        guard let sequence = DER.element([UInt8](try Data(contentsOf: output))), let parts = sequence.children, parts.count == 2 else {
            throw TestProcessError(message: "openssl wrote no ECDSA-Sig-Value")
        }
        return parts.flatMap { part -> [UInt8] in
            let trimmed = Array(part.content.drop { $0 == 0 })
            return [UInt8](repeating: 0, count: 32 - trimmed.count) + trimmed
        }
    }

    /// A JWS envelope. `protected` is the protected header as JSON text (defaults: PS256,
    /// scheme `notary.x509`, a signing time); `chain` defaults to ``chain``.
    func jws(
        protected: String? = nil, payload: [UInt8] = payload(), chain: [Certificate]? = nil, afterSigning: ((inout String) -> Void)? = nil,
        timestamp: (([UInt8]) throws -> [UInt8])? = nil
    ) throws -> [UInt8] {
        let header = protected ?? #"{"alg":"\#(ecdsa ? "ES256" : "PS256")","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-01T00:00:00Z"}"#
        var protectedText = Self.base64URL(Array(header.utf8))
        let payloadText = Self.base64URL(payload)
        let signature = try sign(Array("\(protectedText).\(payloadText)".utf8))
        afterSigning?(&protectedText)
        let x5c = (chain ?? self.chain).map { "\"\(Data($0.derEncoded).base64EncodedString())\"" }.joined(separator: ",")
        let countersignature = try timestamp.map { #","io.cncf.notary.timestampSignature":"\#(Data(try $0(signature)).base64EncodedString())""# } ?? ""
        return Array(#"{"payload":"\#(payloadText)","protected":"\#(protectedText)","header":{"x5c":[\#(x5c)],"io.cncf.notary.signingAgent":"signet-tests"\#(countersignature)},"signature":"\#(Self.base64URL(signature))"}"#.utf8)
    }

    /// A COSE_Sign1 envelope with scheme `notary.x509.signingAuthority` and an authentic signing time.
    func coseSigningAuthority(authenticSigningTime: Date, payload: [UInt8] = payload()) throws -> [UInt8] {
        let protected = CBOREncoder.encode(.map([
            (.unsigned(1), .negative(36)),  // -37, PS256
            (.unsigned(2), .array([.text("io.cncf.notary.signingScheme"), .text("io.cncf.notary.authenticSigningTime")])),
            (.unsigned(3), .text("application/vnd.cncf.notary.payload.v1+json")),
            (.text("io.cncf.notary.signingScheme"), .text("notary.x509.signingAuthority")),
            (.text("io.cncf.notary.authenticSigningTime"), .tagged(1, .unsigned(UInt64(authenticSigningTime.timeIntervalSince1970)))),
        ]))
        let structure = CBOREncoder.encode(.array([.text("Signature1"), .bytes(protected), .bytes([]), .bytes(payload)]))
        let signature = try sign(structure)
        let unprotected = CBOR.map([(.unsigned(33), .array(chain.map { .bytes($0.derEncoded) }))])
        return CBOREncoder.encode(.tagged(18, .array([.bytes(protected), unprotected, .bytes(payload), .bytes(signature)])))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func openssl(_ arguments: [String]) throws {
        let result = try TestProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestProcessError(message: "openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    /// A strict statement over `stores` and `identities` (default `*`).
    static func statement(
        stores: [String] = ["ca:acme"], identities: [String] = ["*"], level: String = "strict", verifyTimestamp: String = "always",
        override: [String: String] = [:]
    ) throws -> NotationTrustPolicy.Statement {
        let overrides = override.isEmpty ? "" : #","override":{"# + override.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",") + "}"
        let json = #"{"version":"1.0","trustPolicies":[{"name":"acme","registryScopes":["*"],"signatureVerification":{"level":"\#(level)","verifyTimestamp":"\#(verifyTimestamp)"\#(overrides)},"trustStores":[\#(stores.map { "\"\($0)\"" }.joined(separator: ","))],"trustedIdentities":[\#(identities.map { "\"\($0)\"" }.joined(separator: ","))]}]}"#
        return try NotationTrustPolicy(json: Array(json.utf8)).statements[0]
    }
}

extension NotationTestSigner {
    /// A CRL issued by the root (`openssl ca -gencrl`), listing `revoked` (certificates the
    /// root issued) and valid for `hours`.
    func rootCRL(revoking revoked: [Certificate], hours: Int = 720, extensions: [String] = [], number: Int = 1, reason: String? = nil) throws -> [UInt8] {
        try Self.crl(of: directory, revoking: revoked, hours: hours, extensions: extensions, number: number, reason: reason)
    }

    /// A CRL issued by the CA whose `root.crt` and `root.key` are in `directory`, in DER;
    /// `extensions` are CRL extensions in openssl's configuration syntax (one per line; a line
    /// starting with `[` opens a section they may refer to). `number` is its CRL number; `reason`
    /// the reason code of every entry (`certificateHold` with the hold instruction none).
    static func crl(
        of directory: TemporaryDirectory, revoking revoked: [Certificate], hours: Int = 720, extensions: [String] = [], number: Int = 1, reason: String? = nil
    ) throws -> [UInt8] {
        let dir = directory.path + "/ca-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "".write(toFile: "\(dir)/index.txt", atomically: true, encoding: .utf8)
        try (String(format: "%02X", number) + "\n").write(toFile: "\(dir)/crlnumber", atomically: true, encoding: .utf8)
        try """
            [ ca ]
            default_ca = test_ca
            [ test_ca ]
            database = \(dir)/index.txt
            crlnumber = \(dir)/crlnumber
            new_certs_dir = \(dir)
            certificate = \(directory.path)/root.crt
            private_key = \(directory.path)/root.key
            default_md = sha256
            \(extensions.isEmpty ? "" : "crl_extensions = crl_ext\n[ crl_ext ]\n" + extensions.joined(separator: "\n"))
            """.write(toFile: "\(dir)/ca.cnf", atomically: true, encoding: .utf8)
        for (index, certificate) in revoked.enumerated() {
            let file = "\(dir)/revoked-\(index).crt"
            try certificate.pemEncoded.write(toFile: file, atomically: true, encoding: .utf8)
            let reasonArguments = reason.map { $0 == "certificateHold" ? ["-crl_hold", "holdInstructionNone"] : ["-crl_reason", $0] } ?? []
            try Self.openssl(["ca", "-config", "\(dir)/ca.cnf", "-revoke", file] + reasonArguments)
        }
        try Self.openssl(["ca", "-config", "\(dir)/ca.cnf", "-gencrl", "-crlhours", "\(hours)", "-out", "\(dir)/root.pem"])
        try Self.openssl(["crl", "-in", "\(dir)/root.pem", "-outform", "DER", "-out", "\(dir)/root.crl"])
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/root.crl")))
    }
}
