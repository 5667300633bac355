/// The predicate types an attestation requirement names, and cosign's short aliases for them
/// (sigstore/cosign `pkg/cosign/attestation`, `cosign attest --type`): `slsaprovenance`
/// (SLSA provenance v0.2), `slsaprovenance02`, `slsaprovenance1` (SLSA provenance v1),
/// `spdx`, `spdxjson` (SPDX), `cyclonedx` (CycloneDX), `vuln` (cosign's vulnerability scan),
/// `openvex` (OpenVEX) and `custom` (cosign's custom predicate). Any other type is written as
/// its full URI.
public enum PredicateType {
    /// cosign's aliases and the predicate type URIs they stand for.
    public static let aliases: [String: String] = [
        "slsaprovenance": "https://slsa.dev/provenance/v0.2",
        "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1": "https://slsa.dev/provenance/v1",
        "spdx": "https://spdx.dev/Document",
        "spdxjson": "https://spdx.dev/Document",
        "cyclonedx": "https://cyclonedx.org/bom",
        "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex": "https://openvex.dev/ns",
        "custom": "https://cosign.sigstore.dev/attestation/v1",
    ]

    /// The URI `written` names: an alias's URI, or `written` itself when it is an absolute URI
    /// (a scheme followed by `:`); nil otherwise.
    public static func resolve(_ written: String) -> String? {
        if let uri = aliases[written.lowercased()] { return uri }
        guard let colon = written.firstIndex(of: ":"), colon != written.startIndex,
              written[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }),
              written.index(after: colon) != written.endIndex, !written.contains(where: \.isWhitespace)
        else { return nil }
        return written
    }
}
