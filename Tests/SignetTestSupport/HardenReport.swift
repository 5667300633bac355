import Foundation

/// Records a figure for `make harden` (RELIABILITY.md): with `SIGNET_HARDEN_REPORT_DIR` set, each
/// record is written there as `<part>-<name>.json`; without it nothing is written.
public enum HardenReport {
    public static func write(part: String, name: String, _ record: [String: Any]) {
        guard let directory = ProcessInfo.processInfo.environment["SIGNET_HARDEN_REPORT_DIR"] else { return }
        var record = record
        record["part"] = part
        record["name"] = name
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        let file = "\(part)-\(name)".map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? data.write(to: URL(fileURLWithPath: directory).appendingPathComponent(String(file) + ".json"))
    }
}
