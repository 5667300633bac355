/// One DistributionPoint of a certificate's CRL distribution points extension (RFC 5280 section
/// 4.2.1.13): where one CRL that covers the certificate can be fetched.
public struct CRLDistributionPoint: Sendable, Hashable {
    /// The `uniformResourceIdentifier` names of its `fullName`, in order: alternative places to
    /// fetch the same CRL from.
    public var locations: [String]
    /// Whether the CRL found there is partial: the point limits it to some revocation reasons
    /// (`reasons`), names another CRL issuer (`cRLIssuer`, an indirect CRL), or is named relative
    /// to the issuer rather than by a full name.
    public var isPartial: Bool

    public init(locations: [String], isPartial: Bool) {
        self.locations = locations
        self.isPartial = isPartial
    }
}

extension Certificate {
    /// The CRL distribution points extension, read exactly (RFC 5280 section 4.2.1.13); empty when
    /// the certificate has none, nil when it has one that cannot be read.
    ///
    /// `DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL,
    /// reasons [1] ReasonFlags OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }`, and
    /// `DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] ... }`.
    public var crlDistributionPoints: [CRLDistributionPoint]? {
        guard let value = extensionValue(oid: "2.5.29.31") else { return [] }
        return CRLDistributionPoint.points(in: value)
    }

    /// Where delta CRLs for this certificate are published: the freshest CRL extension (RFC 5280
    /// section 4.2.1.15, the syntax of CRL distribution points); empty when absent, nil when it
    /// cannot be read.
    public var deltaCRLDistributionPoints: [CRLDistributionPoint]? {
        guard let value = extensionValue(oid: "2.5.29.46") else { return [] }
        return CRLDistributionPoint.points(in: value)
    }
}

extension CRLDistributionPoint {
    /// The DistributionPoints of a `CRLDistributionPoints` value; nil when it cannot be read.
    static func points(in value: [UInt8]) -> [CRLDistributionPoint]? {
        guard let sequence = DER.element(value), sequence.tag == 0x30, let points = sequence.children, !points.isEmpty else { return nil }
        var result: [CRLDistributionPoint] = []
        for point in points {
            guard point.tag == 0x30, let fields = point.children else { return nil }
            var locations: [String] = []
            var partial = false
            for field in fields {
                switch field.tag {
                case 0xa0:
                    // The CHOICE inside the explicit [0]: fullName [0] (constructed) or nameRelativeToCRLIssuer [1].
                    guard let names = field.children, names.count == 1 else { return nil }
                    if names[0].tag == 0xa0, let generalNames = names[0].children {
                        locations += generalNames.filter { $0.tag == 0x86 }.compactMap { String(validating: $0.content, as: UTF8.self) }
                    } else {
                        partial = true
                    }
                case 0x81, 0xa2: partial = true
                default: return nil
                }
            }
            result.append(CRLDistributionPoint(locations: locations, isPartial: partial))
        }
        return result
    }
}
