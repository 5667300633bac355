/// A complete HTTP/1.1 request: request line, header section and decoded body.
///
/// RFC 9112 §3 (request line), §5 (field lines), §6 (message body). The body is already decoded
/// from its framing: Content-Length (RFC 9112 §6.2) or chunked (RFC 9112 §7.1); trailer fields of
/// a chunked body are kept apart in ``trailers`` as RFC 9110 §6.5.1 asks.
public struct HTTPRequest: Sendable {
    /// The method token, case-sensitive (RFC 9110 §9.1), e.g. `POST`.
    public var method: String
    /// The request-target as received (RFC 9112 §3.2), e.g. `/validate?timeout=10s`.
    public var target: String
    /// The path of the target without its query, e.g. `/validate`. For an absolute-form target
    /// (RFC 9112 §3.2.2) this is the path of that URI, `/` when it has none; for the asterisk-form
    /// (RFC 9112 §3.2.4) it is `*`.
    public var path: String
    /// The query of the target, the part after the first `?`, e.g. `timeout=10s`.
    public var query: String?
    /// The protocol version of the request line.
    public var version: HTTPVersion
    /// The header fields in the order received.
    public var headers: HTTPHeaders
    /// The decoded message body; empty when the request has none.
    public var body: [UInt8]
    /// The trailer fields of a chunked body (RFC 9112 §7.1.2); usually empty.
    public var trailers: HTTPHeaders
    /// Whether the connection may carry another request after the response (RFC 9112 §9.3):
    /// for HTTP/1.1 unless `Connection` has the `close` option, for HTTP/1.0 only when
    /// `Connection` has the `keep-alive` option (and not `close`).
    public var keepAlive: Bool

    /// Makes a request; ``path``, ``query`` and ``keepAlive`` are derived from `target`,
    /// `version` and `headers`.
    public init(
        method: String,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        trailers: HTTPHeaders = HTTPHeaders()
    ) {
        self.method = method
        self.target = target
        let (path, query) = Self.splitTarget(target)
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.keepAlive = Self.isPersistent(version: version, headers: headers)
    }

    /// The percent-decoded value of the first query parameter named `name`, or nil.
    ///
    /// The query is read as `application/x-www-form-urlencoded` pairs separated by `&`: names and
    /// values are percent-decoded (RFC 3986 §2.1) and `+` stands for a space. A parameter without
    /// `=` has the empty value. Malformed percent escapes are kept literally.
    public func queryValue(_ name: String) -> String? {
        guard let query else { return nil }
        // Pair by pair in place (no array of the pairs is built).
        let utf8 = query.utf8
        var next = utf8.startIndex
        while next < utf8.endIndex {
            let pairEnd = utf8[next...].firstIndex(of: UInt8(ascii: "&")) ?? utf8.endIndex
            let pair = utf8[next..<pairEnd]
            next = pairEnd == utf8.endIndex ? pairEnd : utf8.index(after: pairEnd)
            if pair.isEmpty { continue }
            let key: Substring.UTF8View.SubSequence
            let value: Substring.UTF8View.SubSequence
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                key = pair[pair.startIndex..<equals]
                value = pair[pair.index(after: equals)...]
            } else {
                key = pair
                value = pair[pair.endIndex...]
            }
            let matches = key.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
                ? Self.percentDecoded(key).elementsEqual(name.utf8)
                : key.elementsEqual(name.utf8)
            if matches {
                if value.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
                    return String(decoding: Self.percentDecoded(value), as: UTF8.self)
                }
                return String(decoding: value, as: UTF8.self)
            }
        }
        return nil
    }

    /// The fields of `application/x-www-form-urlencoded` text (HTML Living Standard §4.10.21.7;
    /// a form's body, or a query), read in one pass: names and values percent-decoded, `+` a
    /// space, the first value of each name kept. At most `maximumFields` pairs are read; the
    /// rest are ignored (a body of a million pairs costs one pass, not a search per pair).
    public static func formFields(_ text: some StringProtocol, maximumFields: Int) -> [String: String] {
        var fields: [String: String] = [:]
        var read = 0
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            guard read < maximumFields else { break }
            read += 1
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let key = equals.map { pair[pair.startIndex..<$0] } ?? pair[...]
            let value = equals.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            let name = String(decoding: percentDecoded(key), as: UTF8.self)
            if fields[name] == nil { fields[name] = String(decoding: percentDecoded(value), as: UTF8.self) }
        }
        return fields
    }

    /// Splits a request-target into path and query (RFC 9112 §3.2). An absolute-form target
    /// contributes the path of its URI.
    static func splitTarget(_ target: String) -> (path: String, query: String?) {
        var utf8 = Substring(target).utf8
        if let first = utf8.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*"),
            let schemeEnd = utf8.firstIndex(of: UInt8(ascii: ":"))
        {
            // absolute-form: scheme "://" authority path-abempty [ "?" query ]
            var rest = utf8[utf8.index(after: schemeEnd)...]
            if rest.starts(with: "//".utf8) {
                rest = rest.dropFirst(2)
                let authorityEnd =
                    rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
                rest = rest[authorityEnd...]
            }
            utf8 = rest
        }
        let pathPart: Substring.UTF8View.SubSequence
        let query: String?
        if let questionMark = utf8.firstIndex(of: UInt8(ascii: "?")) {
            pathPart = utf8[utf8.startIndex..<questionMark]
            query = String(Substring(utf8[utf8.index(after: questionMark)...]))
        } else {
            pathPart = utf8
            query = nil
        }
        let path = pathPart.isEmpty ? "/" : String(Substring(pathPart))
        return (path, query)
    }

    /// RFC 9112 §9.3: whether a connection stays open after this request's response.
    static func isPersistent(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if headers.containsToken("close", in: "Connection") {
            return false
        }
        if version == .http1_0 {
            return headers.containsToken("keep-alive", in: "Connection")
        }
        return version.major == 1 && version.minor >= 1
    }

    private static func percentDecoded<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                if high != bytes.endIndex {
                    let low = bytes.index(after: high)
                    if low != bytes.endIndex,
                        let h = HTTPSyntax.hexValue(bytes[high]),
                        let l = HTTPSyntax.hexValue(bytes[low])
                    {
                        result.append(UInt8(h << 4 | l))
                        index = bytes.index(after: low)
                        continue
                    }
                }
                result.append(byte)
            } else if byte == UInt8(ascii: "+") {
                result.append(HTTPSyntax.space)
            } else {
                result.append(byte)
            }
            index = bytes.index(after: index)
        }
        return result
    }
}
