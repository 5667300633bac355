import Foundation
import SignetCrypto

extension NotationEnvelope {
    /// Reads a tagged COSE_Sign1 (RFC 9052 section 4.2, tag 18) as the Notary Project COSE
    /// envelope defines it: protected header with `alg` (1), `crit` (2), content type (3) and the
    /// `io.cncf.notary.*` signed attributes (times as tag 1 epoch seconds); unprotected header
    /// with `x5chain` (33, RFC 9360), `io.cncf.notary.signingAgent` and
    /// `io.cncf.notary.timestampSignature`. The signature is over the `Sig_structure`
    /// `["Signature1", protected, h'', payload]` (RFC 9052 section 4.4).
    static func parseCOSE(_ bytes: [UInt8]) throws(NotationEnvelopeError) -> NotationEnvelope {
        let item: CBOR
        do {
            item = try CBORDecoder().decode(bytes)
        } catch {
            throw NotationEnvelopeError("the COSE envelope is not valid CBOR: \(error)")
        }
        guard case .tagged(18, .array(let parts)) = item, parts.count == 4 else {
            throw NotationEnvelopeError("the COSE envelope is not a tagged COSE_Sign1 (tag 18, four elements)")
        }
        guard let protectedBytes = parts[0].bytesValue, case .map = parts[1], let payload = parts[2].bytesValue,
              let signature = parts[3].bytesValue else {
            throw NotationEnvelopeError("COSE_Sign1 needs a protected bstr, an unprotected map, an attached payload and a signature bstr")
        }
        let protected: CBOR
        do {
            protected = try CBORDecoder().decode(protectedBytes)
        } catch {
            throw NotationEnvelopeError("the COSE protected header is not valid CBOR: \(error)")
        }
        guard case .map(let entries) = protected else { throw NotationEnvelopeError("the COSE protected header is not a map") }
        guard let algorithmID = protected[.unsigned(1)]?.integer,
              let algorithm = NotationSignatureAlgorithm(coseIdentifier: algorithmID) else {
            throw NotationEnvelopeError("the COSE protected header has no supported alg (PS256, PS384, PS512, ES256, ES384, ES512)")
        }
        var attributes = SignedAttributes()
        for (key, _) in entries {
            switch key {
            case .unsigned(1): attributes.present.insert("alg")
            case .unsigned(2): attributes.present.insert("crit")
            case .unsigned(3): attributes.present.insert("cty")
            case .text(let name): attributes.present.insert(name)
            default: attributes.present.insert("\(key)")
            }
        }
        if let cty = protected[.unsigned(3)] {
            guard let text = cty.textValue else { throw NotationEnvelopeError("the COSE content type is not text") }
            attributes.contentType = text
        }
        if let crit = protected[.unsigned(2)] {
            guard case .array(let names) = crit, !names.isEmpty else { throw NotationEnvelopeError("crit is not a non-empty array") }
            for name in names {
                guard let text = name.textValue else { throw NotationEnvelopeError("crit lists \(name), a label this verifier does not understand") }
                attributes.critical.append(text)
            }
        }
        if let scheme = protected[.text(signingSchemeHeader)] {
            guard let text = scheme.textValue, let parsed = NotationSigningScheme(rawValue: text) else {
                throw NotationEnvelopeError("unsupported signing scheme \(scheme) (notary.x509 or notary.x509.signingAuthority)")
            }
            attributes.signingScheme = parsed
        }
        attributes.signingTime = try time(protected, signingTimeHeader)
        attributes.authenticSigningTime = try time(protected, authenticSigningTimeHeader)
        attributes.expiry = try time(protected, expiryHeader)
        attributes.verificationPlugin = try text(protected, verificationPluginHeader)
        attributes.verificationPluginMinVersion = try text(protected, verificationPluginMinVersionHeader)
        for name in AWSSigner.extendedAttributes { attributes.pluginAttributes[name] = try text(protected, name) }

        let unprotected = parts[1]
        guard case .map(let unprotectedEntries) = unprotected else { throw NotationEnvelopeError("the COSE unprotected header is not a map") }
        for (key, _) in unprotectedEntries {
            guard key == .unsigned(33) || key == .text(signingAgentHeader) || key == .text(timestampHeader) else {
                throw NotationEnvelopeError("the COSE unprotected header has an unexpected label \(key)")
            }
        }
        var chainBytes: [[UInt8]] = []
        switch unprotected[.unsigned(33)] {
        case .bytes(let der)?: chainBytes = [der]
        case .array(let items)?:
            for item in items {
                guard let der = item.bytesValue else { throw NotationEnvelopeError("x5chain holds a non-bstr item") }
                chainBytes.append(der)
            }
        default: throw NotationEnvelopeError("x5chain (label 33) is missing")
        }
        guard chainBytes.count <= NotationEnvelope.maximumCertificates else {
            throw NotationEnvelopeError("x5chain has \(chainBytes.count) certificates, more than the \(NotationEnvelope.maximumCertificates) signet reads")
        }
        var chain: [Certificate] = []
        for (index, der) in chainBytes.enumerated() {
            guard let certificate = try? Certificate(derEncoded: der) else { throw NotationEnvelopeError("x5chain[\(index)] is not a DER certificate") }
            chain.append(certificate)
        }
        var token: [UInt8]?
        if let value = unprotected[.text(timestampHeader)] {
            guard let der = value.bytesValue else { throw NotationEnvelopeError("\(timestampHeader) is not a bstr") }
            token = der
        }
        var agent: String?
        if let value = unprotected[.text(signingAgentHeader)] {
            guard let text = value.textValue else { throw NotationEnvelopeError("\(signingAgentHeader) is not text") }
            agent = text
        }
        let structure = CBOREncoder.encode(.array([.text("Signature1"), .bytes(protectedBytes), .bytes([]), .bytes(payload)]))
        return try NotationEnvelope(
            format: .cose, payload: payload, signedBytes: structure, signature: signature, algorithm: algorithm,
            attributes: attributes, certificateChain: chain, timestampToken: token, signingAgent: agent)
    }

    private static func text(_ header: CBOR, _ name: String) throws(NotationEnvelopeError) -> String? {
        guard let value = header[.text(name)] else { return nil }
        guard let text = value.textValue else { throw NotationEnvelopeError("\(name) is not text") }
        return text
    }

    private static func time(_ header: CBOR, _ name: String) throws(NotationEnvelopeError) -> Date? {
        guard let value = header[.text(name)] else { return nil }
        guard case .tagged(1, let seconds) = value, let epoch = seconds.integer else {
            throw NotationEnvelopeError("\(name) is not a tag 1 epoch time in whole seconds")
        }
        // Years 0001 to 9999 (RFC 3339 §5.6), so every time can be compared and printed.
        guard (-62_135_596_800...253_402_300_799).contains(epoch) else {
            throw NotationEnvelopeError("\(name) \(epoch) is outside the years 0001 to 9999")
        }
        return Date(timeIntervalSince1970: TimeInterval(epoch))
    }
}
