import Foundation

/// The `text/event-stream` format (HTML Living Standard §9.2.6): `event:` and `data:` lines and
/// an empty line per event; comment lines keep an idle connection alive.
enum ServerSentEvents {
    static func event(_ name: String, json: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(json)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // JSON has no raw newlines, so one data line carries it.
        return Array("event: \(name)\ndata: \(data)\n\n".utf8)
    }

    /// `retry` (milliseconds before a reconnection) and a first comment, so the client sees the
    /// stream open at once.
    static let opening: [UInt8] = Array("retry: 1000\n: open\n\n".utf8)
    static let heartbeat: [UInt8] = Array(": keep-alive\n\n".utf8)

    /// The bytes of `events` mapped by `encode`, after the opening, with a heartbeat every
    /// `heartbeat` while idle; ends when `events` ends, the connection goes, or `lifetime` has
    /// passed. A stream that ends is opened again by the browser's `EventSource` (after `retry`),
    /// a new request whose token is reviewed again: a token revoked or expired meanwhile stops
    /// receiving events within `lifetime`, not when the page is closed.
    static func stream<Element: Sendable>(
        _ events: AsyncStream<Element>, heartbeat interval: Duration = .seconds(15), lifetime: Duration,
        encode: @escaping @Sendable (Element) -> [UInt8], ending: [UInt8]? = nil
    ) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1024))
        continuation.yield(opening)
        let forward = Task {
            for await element in events { continuation.yield(encode(element)) }
            if let ending { continuation.yield(ending) }
            continuation.finish()
        }
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                continuation.yield(heartbeat)
            }
        }
        let expiry = Task {
            try? await Task.sleep(for: lifetime)
            if !Task.isCancelled { continuation.finish() }
        }
        continuation.onTermination = { _ in
            forward.cancel()
            beat.cancel()
            expiry.cancel()
        }
        return stream
    }
}
