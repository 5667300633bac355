import ArgumentParser
import Foundation
import SignetContinuous

/// `signet scan --output`.
enum ScanOutputFormat: String, ExpressibleByArgument {
    case table
    case json
}

/// How `signet scan` prints its findings.
enum ScanOutput {
    static func render(_ findings: [ImageFinding], format: ScanOutputFormat) -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            return String(decoding: (try? encoder.encode(findings)) ?? Data("[]".utf8), as: UTF8.self) + "\n"
        case .table:
            let header = ["NAMESPACE", "POD", "CONTAINER", "RESULT", "IMAGE", "REASON"]
            let rows = findings.map { finding in
                [finding.namespace, finding.pod, finding.container, finding.result.rawValue, finding.image,
                 finding.exemption.map { "\(finding.reason) [\($0)]" } ?? finding.reason]
            }
            var widths = header.map(\.count)
            for row in rows { for index in 0..<5 { widths[index] = max(widths[index], row[index].count) } }
            let lines = ([header] + rows).map { row in
                row.enumerated().map { index, cell in index < 5 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) : cell }
                    .joined(separator: "  ")
            }
            let counts = ImageFinding.Result.allCases.map { result in "\(findings.filter { $0.result == result }.count) \(result.rawValue)" }
            return (lines + ["\(findings.count) running images: " + counts.joined(separator: ", ")]).joined(separator: "\n") + "\n"
        }
    }
}
