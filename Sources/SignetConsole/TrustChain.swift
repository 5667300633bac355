import Foundation
import SignetVerify

/// The chain of trust behind a verified digest, from the anchor the policy trusts to the
/// signature over the image: the root or key, intermediate certificates, the leaf and its identity,
/// the signature, the transparency-log entry and timestamp, the image digest. Built from the
/// engine's results (signers and the checks in order), one chain per passing authority.
public struct TrustChain: Sendable, Codable {
    public struct Link: Sendable, Codable, Hashable {
        /// `anchor`, `root`, `intermediate`, `leaf` (the certification path, root first),
        /// `certificates` (checks of the path), `identity`, `signature`, `log`, `timestamp`,
        /// `subject`, `check`.
        public var role: String
        public var title: String
        public var detail: String
        public var passed: Bool
    }

    public var policy: String
    public var authority: String
    public var format: String
    public var digest: String
    public var links: [Link]

    /// The chains of `run`'s authorities that checked a digest (passing ones first).
    public static func chains(of run: VerificationRun) -> [TrustChain] {
        run.authorities.compactMap { report in
            guard let result = report.result else { return nil }
            return TrustChain(report: report, result: result)
        }.sorted { $0.passedAll && !$1.passedAll }
    }

    var passedAll: Bool { links.allSatisfy(\.passed) }

    init(report: AuthorityReport, result: VerificationResult) {
        policy = report.policy
        authority = report.authority
        format = result.format.name
        digest = result.digest.description
        var links: [Link] = []
        // The anchor: the keys that vouched, or the trust root the certificates chain to.
        if let root = report.trustRoot {
            links.append(Link(role: "anchor", title: "trust root", detail: root, passed: true))
        }
        for signer in result.signers where signer.identity == nil {
            links.append(Link(
                role: "anchor", title: "key \(signer.algorithm)",
                detail: "\(signer.key), SHA-256 \(signer.fingerprint.prefix(16))…", passed: true))
        }
        // The certification path of each certificate signer, root first: root, intermediates, leaf.
        for signer in result.signers {
            guard let path = signer.certificateChain, let leaf = path.first else { continue }
            if path.count > 1, let root = path.last {
                links.append(Link(role: "root", title: "root certificate", detail: root, passed: true))
                for intermediate in path.dropFirst().dropLast().reversed() {
                    links.append(Link(role: "intermediate", title: "intermediate certificate", detail: intermediate, passed: true))
                }
            }
            links.append(Link(
                role: "leaf", title: "signing certificate", detail: leaf + (signer.identity.map { " (\($0))" } ?? ""), passed: true))
        }
        if result.signers.isEmpty && report.trustRoot == nil {
            links.append(Link(role: "anchor", title: "trust material", detail: "the authority's keys or trust store", passed: result.passed))
        }
        // The checks in the verifier's order, each placed by what it establishes.
        for step in result.steps {
            links.append(Link(role: Self.role(of: step.name), title: step.name, detail: step.detail, passed: step.passed))
        }
        for signer in result.signers {
            if let identity = signer.identity {
                links.append(Link(
                    role: "identity", title: "signer identity",
                    detail: identity + (signer.issuer.map { " issued by \($0)" } ?? ""), passed: true))
            }
        }
        links.append(Link(role: "subject", title: "image", detail: "\(result.image) @ \(result.digest)", passed: result.passed))
        self.links = Self.ordered(links)
    }

    /// The order a chain is read in: anchor → root → intermediates → leaf → certificate checks →
    /// identity → signature → log → timestamp → subject.
    static func ordered(_ links: [Link]) -> [Link] {
        let rank = [
            "anchor": 0, "root": 1, "intermediate": 2, "leaf": 3, "certificates": 4, "identity": 5, "signature": 6, "log": 7,
            "timestamp": 8, "check": 9, "subject": 10,
        ]
        return links.enumerated().sorted {
            (rank[$0.element.role] ?? 9, $0.offset) < (rank[$1.element.role] ?? 9, $1.offset)
        }.map(\.element)
    }

    static func role(of step: String) -> String {
        let name = step.lowercased()
        if name.contains("certificate") || name.contains("chain") || name.contains("trust policy") || name.contains("trust material") || name.contains("trust data") { return "certificates" }
        if name.contains("identity") || name.contains("claims") { return "identity" }
        if name.contains("transparency") || name.contains("tlog") || name.contains("rekor") || name.contains("log") || name.contains("inclusion") { return "log" }
        if name.contains("timestamp") || name.contains("signing time") { return "timestamp" }
        if name.contains("signature") || name.contains("envelope") || name.contains("payload") { return "signature" }
        return "check"
    }

    /// The chain as text, one link per line, for `<pre>` and copying.
    public var text: String {
        var lines = ["\(policy) / \(authority) (\(format)) for \(digest)"]
        for (index, link) in links.enumerated() {
            lines.append("\(String(repeating: "  ", count: min(index, 8)))\(index == 0 ? "" : "└─ ")[\(link.passed ? "ok" : "FAIL")] \(link.title): \(link.detail)")
        }
        return lines.joined(separator: "\n")
    }

    /// The chain drawn as SVG (SVG 1.1): a box per link, top to bottom, arrows between them,
    /// colours by outcome. Presentation attributes only, no `style`, so the console's
    /// Content-Security-Policy needs no inline styles.
    public var svg: String {
        let width = 760, boxHeight = 54, gap = 26, margin = 10
        let height = margin * 2 + links.count * boxHeight + max(0, links.count - 1) * gap
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chain\" role=\"img\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">"
        out += "<title>\(HTML.escape("trust chain of \(digest) under \(policy) / \(authority)"))</title>"
        out += "<defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"10\" refX=\"5\" refY=\"5\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>"
        for (index, link) in links.enumerated() {
            let y = margin + index * (boxHeight + gap)
            let certificate = ["root", "intermediate", "leaf"].contains(link.role)
            let fill = !link.passed ? "#fee2e2" : link.role == "anchor" ? "#dbeafe" : certificate ? "#ede9fe" : "#dcfce7"
            let stroke = !link.passed ? "#b91c1c" : link.role == "anchor" ? "#1d4ed8" : certificate ? "#6d28d9" : "#15803d"
            out += "<g class=\"link link-\(link.role)\"><rect x=\"\(margin)\" y=\"\(y)\" width=\"\(width - 2 * margin)\" height=\"\(boxHeight)\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1.5\"/>"
            out += "<text x=\"\(margin + 12)\" y=\"\(y + 21)\" font-family=\"sans-serif\" font-size=\"14\" font-weight=\"bold\" fill=\"#111\">\(HTML.escape("\(link.passed ? "✔" : "✘") \(link.role): \(link.title)"))</text>"
            out += "<text x=\"\(margin + 12)\" y=\"\(y + 42)\" font-family=\"monospace\" font-size=\"11\" fill=\"#333\">\(HTML.escape(Self.clipped(link.detail, to: 100)))</text></g>"
            if index < links.count - 1 {
                let x = width / 2
                out += "<line x1=\"\(x)\" y1=\"\(y + boxHeight)\" x2=\"\(x)\" y2=\"\(y + boxHeight + gap - 4)\" stroke=\"#555\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
            }
        }
        return out + "</svg>"
    }

    static func clipped(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}
