/// An incremental HTTP/1.1 request parser that works on bytes only.
///
/// Implements message parsing per RFC 9112: the request line (§3), field lines (§5), message
/// body length (§6.3) with Content-Length (§6.2) or chunked transfer coding (§7.1), and
/// pipelining (§9.3.2). Append bytes as they arrive, in pieces of any size, and call ``next()``
/// until it returns ``HTTPParserEvent/needMoreData``; each call returns at most one request and
/// keeps the bytes after it for the following call.
///
/// The parser is strict where leniency lets two parsers disagree on where a request ends
/// (request smuggling, RFC 9112 §11.2): every line must end in CRLF (a lone CR or LF is 400,
/// RFC 9112 §2.2 leaves accepting a lone LF optional), obsolete line folding is 400 (§5.2),
/// Content-Length with Transfer-Encoding is 400 (§6.1), differing Content-Length values are 400
/// (§6.3), only `chunked` is understood as a transfer coding (others are 501, §6.1), and chunk
/// data must be followed by CRLF (§7.1).
///
/// Work is linear in the bytes received: the search for the end of a line resumes where it
/// stopped, body bytes are copied once into the body, and consumed bytes are dropped from the
/// buffer in amortised constant time.
public struct HTTPRequestParser: Sendable {
    /// The limits this parser enforces.
    public let limits: HTTPParserLimits

    /// Received bytes; those before `readIndex` are consumed.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// How many bytes after `readIndex` were already searched for the end of the current line.
    private var scanned = 0
    private var state: State = .head

    // The head being read.
    private var headBytes = 0
    private var requestLine: RequestLine?
    private var headers = HTTPHeaders()

    // The body being read.
    private var pending: HTTPRequest?
    private var body: [UInt8] = []
    private var trailers = HTTPHeaders()
    private var extensionAndTrailerBytes = 0

    /// The most hexadecimal digits (leading zeros included) a chunk size line may spend before
    /// its extensions count against ``HTTPParserLimits/maxChunkExtensionAndTrailerBytes``.
    private static let chunkSizeDigitAllowance = 64
    /// Bytes consumed beyond which the buffer is compacted once more than half of it is consumed.
    private static let compactionThreshold = 16 * 1024
    /// The most buffer capacity kept once everything buffered is parsed: a connection that once
    /// received a large request (or many pipelined ones in one read) gives the memory back
    /// instead of holding it for as long as it stays open.
    static let retainedCapacity = 64 * 1024
    /// The largest body capacity reserved up front for a declared Content-Length; a body that is
    /// only announced must not reserve its whole size.
    private static let initialBodyCapacity = 256 * 1024

    private enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    private struct RequestLine: Sendable {
        var method: String
        var target: String
        var version: HTTPVersion
    }

    private enum BodyFraming {
        case none
        case contentLength(Int)
        case chunked
    }

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Where the parser is within the current request.
    public var phase: HTTPParserPhase {
        switch state {
        case .failed:
            .failed
        case .head:
            requestLine == nil && headBytes == 0 && bufferedByteCount == 0 ? .idle : .readingHead
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            .readingBody
        }
    }

    /// The request whose body is being read (its ``HTTPRequest/body`` still empty): what a
    /// server decides on before it reads the body, such as whether the client may send one.
    /// Nil outside ``HTTPParserPhase/readingBody``.
    public var pendingHead: HTTPRequest? {
        pending
    }

    /// The bytes the body being read will hold: its Content-Length, or for a chunked body
    /// (RFC 9112 §7.1) the bytes decoded so far plus those received but not yet decoded. Zero
    /// outside ``HTTPParserPhase/readingBody``.
    public var pendingBodyByteCount: Int {
        switch state {
        case .fixedBody(let remaining): body.count + remaining
        case .chunkSize, .chunkData, .chunkDataEnd, .trailers: body.count + bufferedByteCount
        case .head, .failed: 0
        }
    }

    /// The number of received bytes held but not yet parsed. Lines of a head that is still
    /// incomplete are parsed as they arrive, so this is not the size of the pending request.
    public var bufferedByteCount: Int {
        buffer.count - readIndex
    }

    /// The bytes the parser's buffer holds room for.
    var bufferCapacity: Int { buffer.capacity }

    /// Adds received bytes. Bytes appended after a failure are dropped.
    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if case .failed = state { return }
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes. Bytes appended after a failure are dropped.
    public mutating func append(_ buffer: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        compactIfNeeded()
        self.buffer.append(contentsOf: buffer)
    }

    /// Parses as far as the buffered bytes allow and returns the next event.
    public mutating func next() -> HTTPParserEvent {
        do {
            let event = try step()
            // Idle (between requests, everything parsed): not in the middle of a body, whose
            // reads would otherwise free and grow the buffer again at every wake-up.
            if case .needMoreData = event, case .head = state, pending == nil, readIndex == buffer.count,
               buffer.capacity > Self.retainedCapacity {
                buffer = []
                readIndex = 0
            }
            return event
        } catch {
            state = .failed(error)
            buffer = []
            readIndex = 0
            scanned = 0
            pending = nil
            body = []
            return .failure(error)
        }
    }

    // MARK: - State machine

    private mutating func step() throws(HTTPParseError) -> HTTPParserEvent {
        while true {
            let event: HTTPParserEvent?
            switch state {
            case .failed(let error):
                return .failure(error)
            case .head:
                event = try readHead()
            case .fixedBody(let remaining):
                let count = min(remaining, bufferedByteCount)
                takeBody(count)
                if remaining > count {
                    state = .fixedBody(remaining: remaining - count)
                    return .needMoreData
                }
                event = completeRequest()
            case .chunkSize:
                event = try readChunkSize()
            case .chunkData(let remaining):
                let count = min(remaining, bufferedByteCount)
                takeBody(count)
                if remaining > count {
                    state = .chunkData(remaining: remaining - count)
                    return .needMoreData
                }
                state = .chunkDataEnd
                event = nil
            case .chunkDataEnd:
                event = try readChunkDataEnd()
            case .trailers:
                event = try readTrailers()
            }
            if let event {
                return event
            }
        }
    }

    private mutating func completeRequest() -> HTTPParserEvent {
        guard var request = pending else {
            preconditionFailure("a body was read without a pending request head")
        }
        pending = nil
        request.body = body
        body = []
        request.trailers = trailers
        trailers = HTTPHeaders()
        state = .head
        return .request(request)
    }

    // MARK: - Head (RFC 9112 §2.1, §3, §5)

    /// Reads lines of the head; returns an event, or nil once a body is to be read.
    private mutating func readHead() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            let line: Range<Int>
            switch findLine(maxLength: limits.maxHeaderBytes - headBytes) {
            case .needMore:
                return .needMoreData
            case .tooLong:
                throw .headerFieldsTooLarge("request header section exceeds \(limits.maxHeaderBytes) bytes")
            case .bareCR:
                throw .badRequest("bare CR in request head")
            case .bareLF:
                throw .badRequest("line in request head not terminated by CRLF (bare LF)")
            case .line(let range):
                line = range
            }

            if requestLine == nil {
                if line.isEmpty {
                    // RFC 9112 §2.2: ignore empty lines received before the request line.
                    consumeLine(line)
                    continue
                }
                requestLine = try parseRequestLine(line)
            } else if line.isEmpty {
                headBytes += 2
                consumeLine(line)
                return try finishHead()
            } else {
                guard headers.count < limits.maxHeaderCount else {
                    throw .headerFieldsTooLarge("request has more than \(limits.maxHeaderCount) header fields")
                }
                let (name, value) = try parseFieldLine(line, section: "header")
                headers.add(name: name, value: value)
            }
            headBytes += line.count + 2
            consumeLine(line)
        }
    }

    /// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3).
    private func parseRequestLine(_ line: Range<Int>) throws(HTTPParseError) -> RequestLine {
        let bytes = buffer[line]
        guard let firstSpace = bytes.firstIndex(of: HTTPSyntax.space),
            let secondSpace = bytes[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.space)
        else {
            throw .badRequest("malformed request line")
        }
        let methodBytes = bytes[..<firstSpace]
        let targetBytes = bytes[(firstSpace + 1)..<secondSpace]
        let versionBytes = bytes[(secondSpace + 1)...]

        guard HTTPSyntax.isToken(methodBytes) else {
            throw .badRequest("request method is not a token")
        }
        guard !targetBytes.isEmpty else {
            throw .badRequest("malformed request line")
        }
        let version = try parseVersion(versionBytes)
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") })
        else {
            throw .badRequest("request-target contains invalid characters")
        }
        let method = String(decoding: methodBytes, as: UTF8.self)
        let first = targetBytes[targetBytes.startIndex]
        if first == UInt8(ascii: "/") {
            // origin-form (RFC 9112 §3.2.1)
        } else if targetBytes.elementsEqual("*".utf8) {
            // asterisk-form (RFC 9112 §3.2.4)
            guard method == "OPTIONS" else {
                throw .badRequest("asterisk-form request-target is only allowed for OPTIONS")
            }
        } else if Self.isHTTPAbsoluteForm(targetBytes) {
            // absolute-form (RFC 9112 §3.2.2)
        } else {
            throw .badRequest("request-target must be in origin-form or absolute-form")
        }
        return RequestLine(method: method, target: String(decoding: targetBytes, as: UTF8.self), version: version)
    }

    /// `HTTP-version = "HTTP/" DIGIT "." DIGIT` (RFC 9112 §2.3); only 1.0 and 1.1 are served.
    private func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let start = bytes.startIndex
        guard bytes.count == 8, bytes[start..<(start + 5)].elementsEqual("HTTP/".utf8),
            isDigit(bytes[start + 5]), bytes[start + 6] == UInt8(ascii: "."), isDigit(bytes[start + 7])
        else {
            throw .badRequest("malformed HTTP version in request line")
        }
        let version = HTTPVersion(
            major: Int(bytes[start + 5] - UInt8(ascii: "0")),
            minor: Int(bytes[start + 7] - UInt8(ascii: "0"))
        )
        guard version == .http1_1 || version == .http1_0 else {
            throw .versionNotSupported("\(version) is not supported")
        }
        return version
    }

    /// Whether `target` starts with an `http` or `https` scheme followed by `://`.
    private static func isHTTPAbsoluteForm(_ target: ArraySlice<UInt8>) -> Bool {
        for scheme in ["http://", "https://"] where target.count > scheme.utf8.count {
            if HTTPSyntax.equalsIgnoringCase(target.prefix(scheme.utf8.count), scheme.utf8) {
                return true
            }
        }
        return false
    }

    /// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5).
    private func parseFieldLine(_ line: Range<Int>, section: String) throws(HTTPParseError) -> (String, String) {
        let bytes = buffer[line]
        guard let first = bytes.first, !HTTPSyntax.isWhitespace(first) else {
            // RFC 9112 §5.2 (obs-fold) and §2.2 (whitespace after the start line).
            throw .badRequest("\(section) line starts with whitespace (obsolete line folding)")
        }
        guard let colon = bytes.firstIndex(of: HTTPSyntax.colon) else {
            throw .badRequest("\(section) line without a colon")
        }
        let nameBytes = bytes[..<colon]
        guard HTTPSyntax.isToken(nameBytes) else {
            if let last = nameBytes.last, HTTPSyntax.isWhitespace(last) {
                // RFC 9112 §5.1: no whitespace between field name and colon.
                throw .badRequest("whitespace between \(section) field name and colon")
            }
            throw .badRequest("\(section) field name is not a token")
        }
        let valueBytes = HTTPSyntax.trimmingWhitespace(bytes[(colon + 1)...])
        let name = String(decoding: nameBytes, as: UTF8.self)
        guard valueBytes.allSatisfy(HTTPSyntax.isFieldValueByte) else {
            throw .badRequest("control character in value of \(section) field '\(name)'")
        }
        return (name, String(decoding: valueBytes, as: UTF8.self))
    }

    /// Checks the complete head and decides how the body is framed (RFC 9112 §3.2, §6.3).
    private mutating func finishHead() throws(HTTPParseError) -> HTTPParserEvent? {
        guard let line = requestLine else {
            preconditionFailure("head finished without a request line")
        }
        let headers = self.headers
        requestLine = nil
        self.headers = HTTPHeaders()
        headBytes = 0

        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one.
        let hostCount = headers.count(of: "Host")
        if hostCount > 1 {
            throw .badRequest("more than one Host header field")
        }
        if hostCount == 0 && line.version == .http1_1 {
            throw .badRequest("HTTP/1.1 request without a Host header field")
        }
        if let host = headers["Host"], !Self.isValidHost(host) {
            throw .badRequest("invalid Host header field value")
        }

        let framing = try bodyFraming(headers: headers, version: line.version)
        if case .contentLength(let length) = framing, length > limits.maxBodyBytes {
            throw .contentTooLarge(
                "request body of \(length) bytes exceeds the limit of \(limits.maxBodyBytes) bytes"
            )
        }

        // RFC 9110 §10.1.1: 100-continue is the only expectation; HTTP/1.0 ignores it.
        var expectsContinue = false
        if headers.contains("Expect") {
            let expectations = headers.tokens(for: "Expect")
            guard !expectations.isEmpty, expectations.allSatisfy({ $0 == "100-continue" }) else {
                throw .expectationFailed("unsupported expectation '\(headers["Expect"] ?? "")'")
            }
            expectsContinue = line.version == .http1_1
        }

        let request = HTTPRequest(method: line.method, target: line.target, version: line.version, headers: headers)
        switch framing {
        case .none, .contentLength(0):
            return .request(request)
        case .contentLength(let length):
            body = []
            body.reserveCapacity(min(length, Self.initialBodyCapacity))
            state = .fixedBody(remaining: length)
        case .chunked:
            body = []
            extensionAndTrailerBytes = 0
            state = .chunkSize
        }
        pending = request
        if expectsContinue && bufferedByteCount == 0 {
            return .continueExpected
        }
        return nil
    }

    /// RFC 9112 §6.1 and §6.3: the body length from Transfer-Encoding or Content-Length.
    private func bodyFraming(headers: HTTPHeaders, version: HTTPVersion) throws(HTTPParseError) -> BodyFraming {
        let hasContentLength = headers.contains("Content-Length")
        if headers.contains("Transfer-Encoding") {
            if version == .http1_0 {
                throw .badRequest("Transfer-Encoding in an HTTP/1.0 request")
            }
            if hasContentLength {
                throw .badRequest("request has both Content-Length and Transfer-Encoding")
            }
            let codings = headers.tokens(for: "Transfer-Encoding")
            if codings == ["chunked"] {
                return .chunked
            }
            if codings.isEmpty {
                throw .badRequest("empty Transfer-Encoding")
            }
            // RFC 9112 §6.3 item 4: chunked anywhere but last leaves the length undeterminable.
            if codings.dropLast().contains("chunked") {
                throw .badRequest("chunked must be the final transfer coding and appear once")
            }
            // RFC 9112 §6.1: a coding the server does not understand.
            let unsupported = codings.first { $0 != "chunked" } ?? ""
            throw .notImplemented("unsupported transfer coding '\(unsupported)'")
        }
        guard hasContentLength else {
            return .none
        }
        var length: Int?
        for (name, value) in headers where HTTPHeaders.namesEqual(name, "Content-Length") {
            for element in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let parsed: Int
                switch HTTPSyntax.parseDecimal(HTTPSyntax.trimmingWhitespace(element)) {
                case .value(let value):
                    parsed = value
                case .invalid:
                    throw .badRequest("invalid Content-Length '\(value)'")
                case .overflow:
                    throw .badRequest("Content-Length '\(value)' is too large")
                }
                if let length, length != parsed {
                    throw .badRequest("differing Content-Length values")
                }
                length = parsed
            }
        }
        return .contentLength(length ?? 0)
    }

    /// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2): the characters of a reg-name, IP literal
    /// or port; empty is allowed.
    private static func isValidHost(_ host: String) -> Bool {
        host.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "-._~!$&'()*+,;=:[]%".utf8.contains(byte)
            }
        }
    }

    // MARK: - Chunked body (RFC 9112 §7.1)

    /// `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1, §7.1.1).
    private mutating func readChunkSize() throws(HTTPParseError) -> HTTPParserEvent? {
        let extensionBudget = limits.maxChunkExtensionAndTrailerBytes - extensionAndTrailerBytes
        let line: Range<Int>
        switch findLine(maxLength: Self.chunkSizeDigitAllowance + max(extensionBudget, 0) + 2) {
        case .needMore:
            return .needMoreData
        case .tooLong:
            throw .badRequest(
                "chunk size line too long (chunk extensions are limited to \(limits.maxChunkExtensionAndTrailerBytes) bytes)"
            )
        case .bareCR, .bareLF:
            throw .badRequest("chunk size line not terminated by CRLF")
        case .line(let range):
            line = range
        }

        var size = 0
        var index = line.lowerBound
        while index < line.upperBound, let digit = HTTPSyntax.hexValue(buffer[index]) {
            guard size <= (Int.max - digit) >> 4 else {
                throw .badRequest("chunk size overflows")
            }
            size = size << 4 | digit
            index += 1
        }
        guard index > line.lowerBound else {
            throw .badRequest("invalid chunk size")
        }
        let extensionBytes = buffer[index..<line.upperBound]
        if !extensionBytes.isEmpty {
            // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
            guard extensionBytes.first(where: { !HTTPSyntax.isWhitespace($0) }) == UInt8(ascii: ";") else {
                throw .badRequest("invalid chunk size")
            }
            guard extensionBytes.allSatisfy(HTTPSyntax.isFieldValueByte) else {
                throw .badRequest("control character in chunk extension")
            }
            extensionAndTrailerBytes += extensionBytes.count
            guard extensionAndTrailerBytes <= limits.maxChunkExtensionAndTrailerBytes else {
                throw .badRequest("chunk extensions exceed \(limits.maxChunkExtensionAndTrailerBytes) bytes")
            }
        }
        consumeLine(line)

        if size == 0 {
            state = .trailers
        } else {
            guard size <= limits.maxBodyBytes - body.count else {
                throw .contentTooLarge("chunked request body exceeds the limit of \(limits.maxBodyBytes) bytes")
            }
            state = .chunkData(remaining: size)
        }
        return nil
    }

    /// The CRLF that ends every chunk's data (RFC 9112 §7.1).
    private mutating func readChunkDataEnd() throws(HTTPParseError) -> HTTPParserEvent? {
        let available = bufferedByteCount
        if available >= 1 && buffer[readIndex] != HTTPSyntax.cr
            || available >= 2 && buffer[readIndex + 1] != HTTPSyntax.lf
        {
            throw .badRequest("chunk data not followed by CRLF")
        }
        guard available >= 2 else {
            return .needMoreData
        }
        readIndex += 2
        state = .chunkSize
        return nil
    }

    /// `trailer-section = *( field-line CRLF )` then CRLF (RFC 9112 §7.1.2).
    private mutating func readTrailers() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            let budget = limits.maxChunkExtensionAndTrailerBytes - extensionAndTrailerBytes
            let line: Range<Int>
            switch findLine(maxLength: budget) {
            case .needMore:
                return .needMoreData
            case .tooLong:
                throw .headerFieldsTooLarge(
                    "chunk extensions and trailer section exceed \(limits.maxChunkExtensionAndTrailerBytes) bytes"
                )
            case .bareCR:
                throw .badRequest("bare CR in trailer section")
            case .bareLF:
                throw .badRequest("line in trailer section not terminated by CRLF (bare LF)")
            case .line(let range):
                line = range
            }
            extensionAndTrailerBytes += line.count + 2
            if line.isEmpty {
                consumeLine(line)
                return completeRequest()
            }
            guard trailers.count < limits.maxHeaderCount else {
                throw .headerFieldsTooLarge("request has more than \(limits.maxHeaderCount) trailer fields")
            }
            let (name, value) = try parseFieldLine(line, section: "trailer")
            trailers.add(name: name, value: value)
            consumeLine(line)
        }
    }

    // MARK: - Buffer

    private enum LineSearch {
        /// The line's content, CRLF excluded, as indices into the buffer.
        case line(Range<Int>)
        case needMore
        case tooLong
        case bareCR
        case bareLF
    }

    /// Looks for the CRLF that ends the line starting at `readIndex`, resuming the search where
    /// the previous call stopped. The line, CRLF included, may take at most `maxLength` bytes.
    private mutating func findLine(maxLength: Int) -> LineSearch {
        let start = readIndex
        let end = buffer.count
        let limit = start + max(maxLength, 0)
        var index = start + scanned
        let result = buffer.withUnsafeBufferPointer { bytes -> LineSearch in
            while index < end {
                if index >= limit {
                    return .tooLong
                }
                let byte = bytes[index]
                if byte == HTTPSyntax.cr {
                    if index + 1 == end {
                        return .needMore
                    }
                    if bytes[index + 1] != HTTPSyntax.lf {
                        return .bareCR
                    }
                    if index + 1 >= limit {
                        return .tooLong
                    }
                    return .line(start..<index)
                }
                if byte == HTTPSyntax.lf {
                    return .bareLF
                }
                index += 1
            }
            return .needMore
        }
        scanned = index - start
        return result
    }

    /// Consumes a line found by ``findLine(maxLength:)`` and its CRLF.
    private mutating func consumeLine(_ line: Range<Int>) {
        readIndex = line.upperBound + 2
        scanned = 0
    }

    /// Moves `count` buffered bytes into the body.
    private mutating func takeBody(_ count: Int) {
        guard count > 0 else { return }
        body.append(contentsOf: buffer[readIndex..<(readIndex + count)])
        readIndex += count
    }

    /// Drops consumed bytes: at once when all are consumed, otherwise when the consumed part is
    /// large and at least half of the buffer, so each byte is moved at most once on average.
    private mutating func compactIfNeeded() {
        if readIndex == 0 {
            return
        }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
            readIndex = 0
        } else if readIndex >= Self.compactionThreshold && readIndex * 2 >= buffer.count {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
    }
}
