import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import Testing

/// The certificate requirements of the Notary Project signature specification, one rule per
/// test: a chain made by openssl that breaks exactly that rule fails integrity with a reason
/// naming the certificate and the rule; the chain that keeps every rule passes.
@Suite struct NotationCertificateProfileTests {
    typealias Extensions = NotationTestSigner.Extensions

    /// Signs with a PKI of `extensions` and verifies under a strict statement trusting its root.
    func outcome(_ extensions: Extensions, intermediate: Bool = false) async throws -> NotationVerification {
        let signer = try await offThePool { try NotationTestSigner(intermediate: intermediate, extensions: extensions) }
        let envelope = try await offThePool { try signer.jws() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        return NotationVerifier(statement: try NotationTestSigner.statement(), stores: stores)
            .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
    }

    func expectIntegrityFailure(_ extensions: Extensions, intermediate: Bool = false, naming fragment: String, _ comment: Comment) async throws {
        let result = try await outcome(extensions, intermediate: intermediate)
        #expect(!result.passed, comment)
        #expect(result.failure?.contains("integrity validation failed: the certificate chain is invalid") == true, "\(comment): \(result.failure ?? "passed")")
        #expect(result.failure?.contains(fragment) == true, "\(comment): \(result.failure ?? "passed")")
    }

    @Test("a chain that meets every requirement passes, with and without an intermediate")
    func compliant() async throws {
        #expect(try await outcome(Extensions()).passed)
        #expect(try await outcome(Extensions(), intermediate: true).passed)
        var noEKU = Extensions()
        noEKU.leaf = ["keyUsage=critical,digitalSignature"]
        #expect(try await outcome(noEKU).passed, "extendedKeyUsage and basicConstraints are optional for the leaf")
        var otherPurpose = Extensions()
        otherPurpose.leaf = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=1.3.6.1.4.1.57264.99"]
        #expect(try await outcome(otherPurpose).passed, "a purpose the specification does not forbid is allowed")
    }

    /// "Any certificate in the certificate chain MUST NOT use SHA1WithRSA and ECDSAWithSHA1
    /// signatures": a leaf or a root signed with SHA-1 (openssl still makes them) fails
    /// integrity naming the certificate; SHA-384 is fine.
    @Test("no certificate of the chain may be signed with SHA-1", arguments: [("sha1", "sha256", "signer"), ("sha256", "sha1", "Acme Root"), ("sha384", "sha512", nil)])
    func sha1Signatures(leafHash: String, rootHash: String, refused: String?) async throws {
        let signer = try await offThePool { try NotationTestSigner(ecdsa: leafHash == "sha384", rootHash: rootHash, leafHash: leafHash) }
        let envelope = try await offThePool { try signer.jws() }
        let stores = NotationTrustStores([.init(type: .ca, name: "acme"): [signer.root]])
        let result = NotationVerifier(statement: try NotationTestSigner.statement(), stores: stores)
            .verify(envelope: envelope, mediaType: "application/jose+json", target: NotationTestSigner.target, at: signer.validTime)
        if let refused {
            #expect(!result.passed)
            #expect(result.failure?.contains("integrity validation failed: the certificate chain is invalid: the certificate \"") == true, "\(result.failure ?? "passed")")
            #expect(result.failure?.contains("the certificate \"CN=\(refused),O=Acme,ST=WA,C=US\" is signed with SHA1") == true, "\(result.failure ?? "passed")")
        } else {
            #expect(result.passed, "\(result.failure ?? "")")
        }
    }

    @Test("leaf: basicConstraints, when present, must have cA false")
    func leafIsCA() async throws {
        var extensions = Extensions()
        extensions.leaf = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature"]
        try await expectIntegrityFailure(extensions, naming: "basicConstraints cA true", "a CA leaf")
    }

    @Test("leaf: keyUsage must be present")
    func leafWithoutKeyUsage() async throws {
        var extensions = Extensions()
        extensions.leaf = ["basicConstraints=CA:FALSE", "extendedKeyUsage=codeSigning"]
        try await expectIntegrityFailure(extensions, naming: "the signing certificate \"CN=signer,O=Acme,ST=WA,C=US\" has no keyUsage extension", "no keyUsage")
    }

    @Test("leaf: keyUsage must be critical")
    func leafKeyUsageNotCritical() async throws {
        var extensions = Extensions()
        extensions.leaf = ["keyUsage=digitalSignature", "extendedKeyUsage=codeSigning"]
        try await expectIntegrityFailure(extensions, naming: "keyUsage extension that is not marked critical", "keyUsage not critical")
    }

    @Test("leaf: keyUsage must have digitalSignature")
    func leafWithoutDigitalSignature() async throws {
        var extensions = Extensions()
        extensions.leaf = ["keyUsage=critical,nonRepudiation", "extendedKeyUsage=codeSigning"]
        try await expectIntegrityFailure(extensions, naming: "no digitalSignature", "no digitalSignature")
    }

    @Test("leaf: keyUsage must not have keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly")
    func leafForbiddenKeyUsages() async throws {
        for (bit, name) in [("keyEncipherment", "keyEncipherment"), ("dataEncipherment", "dataEncipherment"), ("keyCertSign", "keyCertSign"), ("cRLSign", "cRLSign")] {
            var extensions = Extensions()
            extensions.leaf = ["keyUsage=critical,digitalSignature,\(bit)", "extendedKeyUsage=codeSigning"]
            try await expectIntegrityFailure(extensions, naming: "has keyUsage \(name)", "\(bit)")
        }
    }

    @Test("leaf: extendedKeyUsage, when present, must not have anyExtendedKeyUsage, serverAuth, clientAuth, emailProtection, timeStamping, OCSPSigning")
    func leafForbiddenPurposes() async throws {
        for purpose in ["anyExtendedKeyUsage", "serverAuth", "clientAuth", "emailProtection", "timeStamping", "OCSPSigning"] {
            var extensions = Extensions()
            extensions.leaf = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=codeSigning,\(purpose)"]
            try await expectIntegrityFailure(extensions, naming: "has extendedKeyUsage \(purpose)", "\(purpose)")
        }
    }

    @Test("root: basicConstraints must be present, critical, with cA true")
    func rootBasicConstraints() async throws {
        for (lines, comment) in [
            (["keyUsage=critical,keyCertSign"], "absent"),
            (["basicConstraints=CA:TRUE", "keyUsage=critical,keyCertSign"], "not critical"),
        ] {
            var extensions = Extensions()
            extensions.root = lines
            try await expectIntegrityFailure(extensions, naming: "the CA certificate \"CN=Acme Root,O=Acme,ST=WA,C=US\" must have a critical basicConstraints extension with cA true", "\(comment)")
        }
    }

    @Test("intermediate: basicConstraints cA must be true")
    func intermediateNotCA() async throws {
        var extensions = Extensions()
        extensions.intermediate = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,keyCertSign"]
        // openssl itself refuses to verify a path through a non-CA; the profile names it first.
        try await expectIntegrityFailure(extensions, intermediate: true, naming: "CN=Acme Signing Authority,O=Acme,ST=WA,C=US\" must have a critical basicConstraints", "cA false")
    }

    @Test("CA: pathLenConstraint must allow the CA certificates below it")
    func pathLength() async throws {
        var extensions = Extensions()
        extensions.root = ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign"]
        try await expectIntegrityFailure(extensions, intermediate: true, naming: "has pathLenConstraint 0, but 1 CA certificate(s) follow it", "pathlen 0 above an intermediate")
        #expect(try await outcome(extensions).passed, "pathlen 0 directly above the leaf")
    }

    @Test("CA: keyUsage must be present, critical, with keyCertSign")
    func authorityKeyUsage() async throws {
        for (lines, fragment) in [
            (["basicConstraints=critical,CA:TRUE"], "has no keyUsage extension"),
            (["basicConstraints=critical,CA:TRUE", "keyUsage=keyCertSign"], "keyUsage extension that is not marked critical"),
            (["basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature,cRLSign"], "has no keyCertSign"),
        ] {
            var extensions = Extensions()
            extensions.intermediate = lines
            try await expectIntegrityFailure(extensions, intermediate: true, naming: fragment, "\(lines)")
        }
    }

    @Test("keyUsage and basicConstraints are read from the DER as RFC 5280 encodes them")
    func extensionReading() async throws {
        let signer = try await offThePool { try NotationTestSigner(intermediate: true) }
        #expect(signer.leaf.keyUsage == [.digitalSignature])
        #expect(signer.leaf.isExtensionCritical(oid: "2.5.29.15") == true)
        #expect(signer.leaf.basicConstraints?.isCertificateAuthority == false)
        #expect(signer.root.keyUsage == [.keyCertSign, .cRLSign])
        #expect(signer.root.basicConstraints == .init(isCertificateAuthority: true, pathLengthConstraint: nil))
        #expect(signer.root.isExtensionCritical(oid: "2.5.29.17") == nil)
    }
}
