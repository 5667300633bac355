import Foundation

/// One event of a watch stream (Kubernetes API concepts, "Efficient detection of changes"):
/// a JSON object per line, `{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": …}`.
/// A `BOOKMARK` carries only `metadata.resourceVersion`; an `ERROR` carries a `metav1.Status`
/// (code 410 when the resourceVersion is too old).
public enum WatchEvent: Sendable, Hashable {
    case added(KubernetesObject)
    case modified(KubernetesObject)
    case deleted(KubernetesObject)
    /// The server has sent everything up to this resourceVersion.
    case bookmark(resourceVersion: String)
    /// The watch failed; `code` is the Status code (410: relist).
    case error(code: Int, message: String)

    /// Parses one line of a watch stream.
    static func parse(line: [UInt8], resource: KubernetesResource) throws(KubernetesError) -> WatchEvent {
        guard let envelope = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
              let type = envelope["type"] as? String, let object = envelope["object"] as? [String: Any] else {
            throw KubernetesError(.decoding, "watch stream line is not an event: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        switch type {
        case "BOOKMARK":
            let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? ""
            return .bookmark(resourceVersion: version)
        case "ERROR":
            let code = object["code"] as? Int ?? 500
            return .error(code: code, message: object["message"] as? String ?? "watch error")
        case "ADDED", "MODIFIED", "DELETED":
            guard let item = KubernetesObject(dictionary: object, resource: resource, dropsManagedFields: true) else {
                throw KubernetesError(.decoding, "\(type) event without metadata.name")
            }
            switch type {
            case "ADDED": return .added(item)
            case "MODIFIED": return .modified(item)
            default: return .deleted(item)
            }
        default:
            throw KubernetesError(.decoding, "unknown watch event type \(type)")
        }
    }
}

/// Splits a byte stream into newline-terminated lines (the watch stream framing of the JSON
/// serializer: one event per line). Each byte is searched for the newline once, however many
/// chunks a long line arrives in, and a line may be at most `maximumLineBytes` long.
struct LineSplitter {
    private var buffer: [UInt8] = []
    /// How much of `buffer` holds no newline (searched already).
    private var searched = 0
    let maximumLineBytes: Int

    init(maximumLineBytes: Int) {
        self.maximumLineBytes = maximumLineBytes
    }

    mutating func feed(_ bytes: [UInt8]) throws(KubernetesError) -> [[UInt8]] {
        buffer.append(contentsOf: bytes)
        var lines: [[UInt8]] = []
        var start = 0
        for index in buffer.indices[searched...] where buffer[index] == UInt8(ascii: "\n") {
            let line = Array(buffer[start..<index])
            if !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { lines.append(line) }
            start = index + 1
        }
        if start > 0 { buffer.removeFirst(start) }
        searched = buffer.count
        guard buffer.count <= maximumLineBytes else {
            throw KubernetesError(.decoding, "a watch event is longer than \(maximumLineBytes) bytes, the most signet reads of one answer")
        }
        return lines
    }

    /// A final line without a newline, if any.
    mutating func finish() -> [UInt8]? {
        defer {
            buffer.removeAll()
            searched = 0
        }
        let trimmed = buffer.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        return trimmed.isEmpty ? nil : buffer
    }
}
