import Foundation
import SignetCrypto

extension NotationEnvelope {
    /// Reads the JWS JSON serialization (RFC 7515 section 7.2.2, flattened) as the Notary
    /// Project JWS envelope defines it: `payload`, `protected`, `header` and `signature`; the
    /// protected header holds `alg`, `crit`, `cty` and the `io.cncf.notary.*` signed attributes
    /// (times in RFC 3339); the unprotected header holds `x5c` (base64 DER, RFC 7515 section
    /// 4.1.6), `io.cncf.notary.signingAgent` and `io.cncf.notary.timestampSignature`.
    static func parseJWS(_ bytes: [UInt8]) throws(NotationEnvelopeError) -> NotationEnvelope {
        guard let object = NotationJSON.object(bytes) else {
            throw NotationEnvelopeError("the JWS envelope is not \(NotationJSON.expected)")
        }
        let allowed: Set<String> = ["payload", "protected", "header", "signature"]
        if let unknown = object.keys.first(where: { !allowed.contains($0) }) {
            throw NotationEnvelopeError("the JWS envelope has an unexpected member \"\(unknown)\" (only the flattened JSON serialization is accepted)")
        }
        guard let payloadText = object["payload"] as? String, let protectedText = object["protected"] as? String,
              let signatureText = object["signature"] as? String else {
            throw NotationEnvelopeError("the JWS envelope needs string members payload, protected and signature")
        }
        guard let payload = Base64URL.decode(payloadText), let protectedBytes = Base64URL.decode(protectedText),
              let signature = Base64URL.decode(signatureText) else {
            throw NotationEnvelopeError("payload, protected or signature is not base64url without padding")
        }
        guard let header = NotationJSON.object(protectedBytes) else {
            throw NotationEnvelopeError("the JWS protected header is not \(NotationJSON.expected)")
        }
        guard let algorithmName = header["alg"] as? String else { throw NotationEnvelopeError("the JWS protected header has no alg") }
        guard let algorithm = NotationSignatureAlgorithm(rawValue: algorithmName) else {
            throw NotationEnvelopeError("unsupported signature algorithm \"\(algorithmName)\" (PS256, PS384, PS512, ES256, ES384, ES512)")
        }
        var attributes = SignedAttributes()
        attributes.present = Set(header.keys)
        if let cty = header["cty"] {
            guard let text = cty as? String else { throw NotationEnvelopeError("cty is not a string") }
            attributes.contentType = text
        }
        if let crit = header["crit"] {
            guard let names = crit as? [String], !names.isEmpty else { throw NotationEnvelopeError("crit is not a non-empty array of strings") }
            attributes.critical = names
        }
        if let scheme = header[signingSchemeHeader] {
            guard let text = scheme as? String, let parsed = NotationSigningScheme(rawValue: text) else {
                throw NotationEnvelopeError("unsupported signing scheme \(scheme) (notary.x509 or notary.x509.signingAuthority)")
            }
            attributes.signingScheme = parsed
        }
        attributes.signingTime = try time(header, signingTimeHeader)
        attributes.authenticSigningTime = try time(header, authenticSigningTimeHeader)
        attributes.expiry = try time(header, expiryHeader)
        attributes.verificationPlugin = try text(header, verificationPluginHeader)
        attributes.verificationPluginMinVersion = try text(header, verificationPluginMinVersionHeader)
        for name in AWSSigner.extendedAttributes { attributes.pluginAttributes[name] = try text(header, name) }

        guard let unprotected = object["header"] as? [String: Any] else { throw NotationEnvelopeError("the JWS envelope has no unprotected header with x5c") }
        let unprotectedAllowed: Set<String> = ["x5c", signingAgentHeader, timestampHeader]
        if let unknown = unprotected.keys.first(where: { !unprotectedAllowed.contains($0) }) {
            throw NotationEnvelopeError("the JWS unprotected header has an unexpected member \"\(unknown)\"")
        }
        guard let x5c = unprotected["x5c"] as? [String], !x5c.isEmpty else { throw NotationEnvelopeError("x5c is missing or empty") }
        guard x5c.count <= NotationEnvelope.maximumCertificates else {
            throw NotationEnvelopeError("x5c has \(x5c.count) certificates, more than the \(NotationEnvelope.maximumCertificates) signet reads")
        }
        var chain: [Certificate] = []
        for (index, encoded) in x5c.enumerated() {
            guard let der = Data(base64Encoded: encoded), let certificate = try? Certificate(derEncoded: [UInt8](der)) else {
                throw NotationEnvelopeError("x5c[\(index)] is not a base64 DER certificate")
            }
            chain.append(certificate)
        }
        var token: [UInt8]?
        if let timestamp = unprotected[timestampHeader] {
            guard let text = timestamp as? String, let der = Data(base64Encoded: text) else {
                throw NotationEnvelopeError("\(timestampHeader) is not base64")
            }
            token = [UInt8](der)
        }
        var agent: String?
        if let value = unprotected[signingAgentHeader] {
            guard let text = value as? String else { throw NotationEnvelopeError("\(signingAgentHeader) is not a string") }
            agent = text
        }
        return try NotationEnvelope(
            format: .jws, payload: payload, signedBytes: Array("\(protectedText).\(payloadText)".utf8), signature: signature,
            algorithm: algorithm, attributes: attributes, certificateChain: chain, timestampToken: token, signingAgent: agent)
    }

    private static func text(_ header: [String: Any], _ name: String) throws(NotationEnvelopeError) -> String? {
        guard let value = header[name] else { return nil }
        guard let text = value as? String else { throw NotationEnvelopeError("\(name) is not a string") }
        return text
    }

    private static func time(_ header: [String: Any], _ name: String) throws(NotationEnvelopeError) -> Date? {
        guard let value = header[name] else { return nil }
        guard let text = value as? String, let date = RFC3339.date(text) else {
            throw NotationEnvelopeError("\(name) is not an RFC 3339 time")
        }
        return date
    }
}

/// RFC 3339 date-times (section 5.6), with or without fractional seconds.
enum RFC3339 {
    static func date(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
