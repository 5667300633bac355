@testable import SignetHTTP
import Testing

@Suite("HTTP/1.1 request parser")
struct HTTP1ParserTests {
    // MARK: - Well-formed requests

    /// After a large request (or many pipelined ones read at once) the buffer gives its memory
    /// back once everything in it is parsed: an idle keep-alive connection holds no megabytes.
    @Test func theBufferGivesBackLargeCapacityOnceEverythingIsParsed() throws {
        var parser = HTTPRequestParser()
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        parser.append(Array("POST /validate HTTP/1.1\r\nHost: signet\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        #expect(parser.bufferCapacity >= body.count)
        let request = try #require(parser.next().request)
        #expect(request.body.count == body.count)
        guard case .needMoreData = parser.next() else {
            Issue.record("expected to wait for more data")
            return
        }
        #expect(parser.bufferCapacity <= HTTPRequestParser.retainedCapacity)
        // In the middle of a large body the buffer keeps its room between reads (freeing it at
        // every read would grow it again each time).
        parser.append(Array("POST /validate HTTP/1.1\r\nHost: signet\r\nContent-Length: \(2 * body.count)\r\n\r\n".utf8) + body)
        guard case .needMoreData = parser.next() else {
            Issue.record("expected to wait for the rest of the body")
            return
        }
        #expect(parser.bufferCapacity >= body.count)
        parser.append(body)
        #expect(try #require(parser.next().request).body.count == 2 * body.count)
        _ = parser.next()
        #expect(parser.bufferCapacity <= HTTPRequestParser.retainedCapacity)
        // Small requests keep their buffer (no reallocation per request).
        parser.append(Array("GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n".utf8))
        #expect(try #require(parser.next().request).path == "/healthz")
        _ = parser.next()
        let kept = parser.bufferCapacity
        parser.append(Array("GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n".utf8))
        #expect(try #require(parser.next().request).path == "/healthz")
        #expect(parser.bufferCapacity == kept)
    }

    @Test func simpleGet() throws {
        var parser = HTTPRequestParser()
        #expect(parser.phase == .idle)
        parser.append(Array("GET /healthz HTTP/1.1\r\nHost: signet.svc\r\nUser-Agent: probe\r\n\r\n".utf8))
        #expect(parser.phase == .readingHead)
        let request = try #require(parser.next().request)
        #expect(request.method == "GET")
        #expect(request.target == "/healthz")
        #expect(request.path == "/healthz")
        #expect(request.query == nil)
        #expect(request.version == .http1_1)
        #expect(request.headers["host"] == "signet.svc")
        #expect(request.headers["USER-AGENT"] == "probe")
        #expect(request.headers.count == 2)
        #expect(request.body.isEmpty)
        #expect(request.keepAlive)
        #expect(parser.next().isNeedMoreData)
        #expect(parser.phase == .idle)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func postWithContentLength() throws {
        let body = #"{"kind":"AdmissionReview"}"#
        let events = parseEvents(
            "POST /validate HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        #expect(events.count == 1)
        let request = try #require(events.requests.first)
        #expect(request.method == "POST")
        #expect(request.body == Array(body.utf8))
        #expect(request.headers["content-type"] == "application/json")
    }

    @Test func fieldValuesHaveWhitespaceTrimmedAndKeepOrder() throws {
        let request = try #require(
            parseEvents("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t one two \t\r\nX-A:three\r\nX-Empty:\r\n\r\n").requests.first
        )
        #expect(request.headers.values(for: "x-a") == ["one two", "three"])
        #expect(request.headers["x-empty"] == "")
        #expect(request.headers["host"] == "a")
    }

    @Test func emptyLinesBeforeRequestLineAreIgnored() throws {
        let events = parseEvents("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(events.requests.count == 1)
    }

    @Test func getAndHeadMayCarryABodyWithContentLength() throws {
        for method in ["GET", "HEAD"] {
            let request = try #require(
                parseEvents("\(method) / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc").requests.first
            )
            #expect(request.method == method)
            #expect(request.body == Array("abc".utf8))
        }
    }

    @Test func http10WithoutHostIsAccepted() throws {
        let request = try #require(parseEvents("GET / HTTP/1.0\r\n\r\n").requests.first)
        #expect(request.version == .http1_0)
        #expect(!request.keepAlive)
    }

    @Test func rawBufferPointerAppend() throws {
        var parser = HTTPRequestParser()
        let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        bytes.withUnsafeBytes { parser.append($0) }
        #expect(parser.next().request?.path == "/")
    }

    // MARK: - Request target and query

    @Test func queryStringAndPercentDecoding() throws {
        let target = "/validate?timeout=10s&dry+run=a%20b%2Bc&flag&name=%C3%A9t%C3%A9&bad=%zz%4&timeout=20s&=x"
        let request = try #require(parseEvents("POST \(target) HTTP/1.1\r\nHost: a\r\n\r\n").requests.first)
        #expect(request.target == target)
        #expect(request.path == "/validate")
        #expect(request.query == "timeout=10s&dry+run=a%20b%2Bc&flag&name=%C3%A9t%C3%A9&bad=%zz%4&timeout=20s&=x")
        #expect(request.queryValue("timeout") == "10s")
        #expect(request.queryValue("dry run") == "a b+c")
        #expect(request.queryValue("flag") == "")
        #expect(request.queryValue("name") == "été")
        #expect(request.queryValue("bad") == "%zz%4")
        #expect(request.queryValue("") == "x")
        #expect(request.queryValue("missing") == nil)
    }

    /// Form fields read in one pass, as `queryValue` reads each: the first value of a name wins,
    /// and no more than the cap is read, however many pairs a body holds.
    @Test func formFieldsInOnePass() throws {
        let fields = HTTPRequest.formFields("timeout=10s&dry+run=a%20b%2Bc&flag&name=%C3%A9t%C3%A9&bad=%zz%4&timeout=20s&=x", maximumFields: 32)
        #expect(fields == ["timeout": "10s", "dry run": "a b+c", "flag": "", "name": "été", "bad": "%zz%4", "": "x"])
        let flood = (0..<200_000).map { "k\($0)" }.joined(separator: "&") + "&token=late"
        let capped = HTTPRequest.formFields(flood, maximumFields: 32)
        #expect(capped.count == 32 && capped["k31"] == "" && capped["token"] == nil)
    }

    @Test func emptyQuery() throws {
        let request = try #require(parseEvents("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n").requests.first)
        #expect(request.path == "/a")
        #expect(request.query == "")
        #expect(request.queryValue("x") == nil)
    }

    @Test(arguments: [
        ("http://signet.example:8443/validate?timeout=5s", "/validate", "timeout=5s"),
        ("HTTPS://signet.example", "/", nil),
        ("http://signet.example?x=1", "/", "x=1"),
    ] as [(String, String, String?)])
    func absoluteFormTakesPathFromURI(target: String, path: String, query: String?) throws {
        let request = try #require(parseEvents("GET \(target) HTTP/1.1\r\nHost: signet.example\r\n\r\n").requests.first)
        #expect(request.target == target)
        #expect(request.path == path)
        #expect(request.query == query)
    }

    @Test func asteriskFormForOptions() throws {
        let request = try #require(parseEvents("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").requests.first)
        #expect(request.target == "*")
        #expect(request.path == "*")
    }

    // MARK: - Incremental input

    @Test func chunkedBodyWithTrailersFedByteByByte() throws {
        let raw = Array(
            ("POST /validate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                + "5;name=value;flag\r\nhello\r\n6 ; x=\"quoted\"\r\n world\r\nA\r\n0123456789\r\n"
                + "0\r\nX-Checksum: abc\r\nX-Other:  two \r\n\r\n").utf8
        )
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        var sawBody = false
        for (offset, byte) in raw.enumerated() {
            parser.append(CollectionOfOne(byte))
            let event = parser.next()
            if let request = event.request {
                #expect(offset == raw.count - 1)
                requests.append(request)
            } else {
                #expect(event.isNeedMoreData, "unexpected \(event) at byte \(offset)")
                #expect(parser.phase != .idle)
                sawBody = sawBody || parser.phase == .readingBody
            }
        }
        #expect(sawBody)
        #expect(requests.count == 1)
        let request = try #require(requests.first)
        #expect(request.body == Array("hello world0123456789".utf8))
        #expect(request.trailers["x-checksum"] == "abc")
        #expect(request.trailers["x-other"] == "two")
        #expect(!request.headers.contains("X-Checksum"))
        #expect(parser.phase == .idle)
    }

    @Test func pipelinedRequestsInOneAppend() throws {
        let raw =
            "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            + "GET /four HTTP/1.1\r\nHo"
        var parser = HTTPRequestParser()
        parser.append(Array(raw.utf8))
        #expect(parser.next().request?.path == "/one")
        let two = try #require(parser.next().request)
        #expect(two.path == "/two")
        #expect(two.body == Array("abc".utf8))
        let three = try #require(parser.next().request)
        #expect(three.path == "/three")
        #expect(three.body == Array("xy".utf8))
        #expect(parser.next().isNeedMoreData)
        #expect(parser.phase == .readingHead)
        parser.append(Array("st: a\r\n\r\n".utf8))
        #expect(parser.next().request?.path == "/four")
        #expect(parser.phase == .idle)
    }

    @Test func phasesFollowTheRequest() {
        var parser = HTTPRequestParser()
        #expect(parser.phase == .idle)
        parser.append(Array("POST / HTTP/1.1\r\n".utf8))
        #expect(parser.next().isNeedMoreData)
        #expect(parser.phase == .readingHead)
        parser.append(Array("Host: a\r\nContent-Length: 4\r\n\r\nab".utf8))
        #expect(parser.next().isNeedMoreData)
        #expect(parser.phase == .readingBody)
        parser.append(Array("cd".utf8))
        #expect(parser.next().request?.body == Array("abcd".utf8))
        #expect(parser.phase == .idle)
    }

    @Test func largeBodyIn64KiBPieces() throws {
        let size = 8 * 1024 * 1024
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251) }
        var parser = HTTPRequestParser()
        parser.append(Array("POST /validate HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n".utf8))
        #expect(parser.next().isNeedMoreData)
        var request: HTTPRequest?
        var offset = 0
        while offset < size {
            let end = min(size, offset + 64 * 1024)
            parser.append(body[offset..<end])
            offset = end
            let event = parser.next()
            if offset < size {
                #expect(event.isNeedMoreData)
                // Body bytes move out of the receive buffer as they arrive.
                #expect(parser.bufferedByteCount == 0)
            } else {
                request = event.request
            }
        }
        let received = try #require(request)
        #expect(received.body.count == size)
        #expect(received.body == body)
    }

    @Test func largeChunkedBodyInMisalignedPieces() throws {
        let chunkSize = 64 * 1024
        let chunks = 64
        var raw = Array("POST /validate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var expected: [UInt8] = []
        for index in 0..<chunks {
            let chunk = [UInt8](repeating: UInt8(index), count: chunkSize)
            raw += Array(String(chunkSize, radix: 16).utf8) + [13, 10] + chunk + [13, 10]
            expected += chunk
        }
        raw += Array("0\r\n\r\n".utf8)
        let events = parseEvents(raw, pieceSize: 50_000)
        #expect(events.count == 1)
        #expect(events.requests.first?.body == expected)
    }

    @Test func manyPipelinedRequestsWithABacklog() throws {
        // Draining at most one event per append leaves a backlog, so consumed bytes are
        // compacted away while unparsed ones stay in place.
        let count = 300
        var raw: [UInt8] = []
        for index in 0..<count {
            let body = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 10_000 + index)
            raw += Array("POST /validate?n=\(index) HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            raw += body
        }
        var parser = HTTPRequestParser()
        var received: [HTTPRequest] = []
        var offset = 0
        var appends = 0
        while received.count < count {
            if offset < raw.count {
                // A burst now and then, small pieces in between.
                let end = min(raw.count, offset + (appends % 10 == 0 ? 120_007 : 1_001))
                appends += 1
                parser.append(raw[offset..<end])
                offset = end
            }
            let event = parser.next()
            if let request = event.request {
                received.append(request)
            } else {
                #expect(event.isNeedMoreData)
                if offset >= raw.count { break }
            }
        }
        #expect(received.count == count)
        for (index, request) in received.enumerated() {
            #expect(request.queryValue("n") == String(index))
            #expect(request.body.count == 10_000 + index)
            #expect(request.body.allSatisfy { $0 == UInt8(truncatingIfNeeded: index) })
        }
        #expect(parser.phase == .idle)
    }

    @Test func longHeaderTrickledByteByByte() throws {
        let value = String(repeating: "v", count: 30_000)
        let raw = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: \(value)\r\n\r\n".utf8)
        let events = parseEvents(raw, pieceSize: 1)
        #expect(events.count == 1)
        #expect(events.requests.first?.headers["x-long"]?.utf8.count == 30_000)
    }

    // MARK: - Persistence

    @Test(arguments: [
        ("HTTP/1.1", [], true),
        ("HTTP/1.1", ["close"], false),
        ("HTTP/1.1", ["Keep-Alive, Close"], false),
        ("HTTP/1.1", ["keep-alive, Upgrade"], true),
        ("HTTP/1.1", ["Upgrade", "close"], false),
        ("HTTP/1.0", [], false),
        ("HTTP/1.0", ["keep-alive"], true),
        ("HTTP/1.0", ["Keep-Alive, Upgrade"], true),
        ("HTTP/1.0", ["Upgrade", " keep-alive "], true),
        ("HTTP/1.0", ["keep-alive, close"], false),
        ("HTTP/1.0", ["keep-alive-ish"], false),
    ] as [(String, [String], Bool)])
    func keepAlive(version: String, connection: [String], expected: Bool) throws {
        let fields = connection.map { "Connection: \($0)\r\n" }.joined()
        let request = try #require(parseEvents("GET / \(version)\r\nHost: a\r\n\(fields)\r\n").requests.first)
        #expect(request.keepAlive == expected)
    }

    // MARK: - Errors

    @Test(arguments: [
        // Request line (RFC 9112 §3)
        ("GET /\r\n\r\n", 400, "malformed request line"),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "malformed HTTP version in request line"),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request method is not a token"),
        ("GET validate HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target must be in origin-form or absolute-form"),
        ("CONNECT signet:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target must be in origin-form or absolute-form"),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form request-target is only allowed for OPTIONS"),
        ("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target contains invalid characters"),
        ("GET /\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target contains invalid characters"),
        ("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version in request line"),
        ("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed HTTP version in request line"),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "HTTP/1.2 is not supported"),
        ("GET / HTTP/0.9\r\n\r\n", 505, "HTTP/0.9 is not supported"),
        // Line endings (RFC 9112 §2.2)
        ("GET / HTTP/1.1\nHost: a\n\n", 400, "line in request head not terminated by CRLF (bare LF)"),
        ("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR in request head"),
        // Field lines (RFC 9112 §5)
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400, "header line starts with whitespace (obsolete line folding)"),
        ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "header line starts with whitespace (obsolete line folding)"),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace between header field name and colon"),
        ("GET / HTTP/1.1\r\nHo@st: a\r\n\r\n", 400, "header field name is not a token"),
        ("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "header field name is not a token"),
        ("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "header line without a colon"),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{01}b\r\n\r\n", 400, "control character in value of header field 'X-A'"),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{7F}\r\n\r\n", 400, "control character in value of header field 'X-A'"),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{00}\r\n\r\n", 400, "control character in value of header field 'X-A'"),
        // Host (RFC 9112 §3.2)
        ("GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request without a Host header field"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header field"),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host header field value"),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, "invalid Host header field value"),
        // Framing (RFC 9112 §6)
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400,
         "request has both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400,
         "request has both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported transfer coding 'gzip'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer coding 'gzip'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, "unsupported transfer coding 'identity'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
         "chunked must be the final transfer coding and appear once"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "chunked must be the final transfer coding and appear once"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400, "empty Transfer-Encoding"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "differing Content-Length values"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, "differing Content-Length values"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400, "invalid Content-Length 'abc'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length '-1'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400, "invalid Content-Length '+1'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid Content-Length '0x10'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, "invalid Content-Length ''"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,\r\n\r\n", 400, "invalid Content-Length '1,'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
         "Content-Length '99999999999999999999999' is too large"),
        // Expectations (RFC 9110 §10.1.1)
        ("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", 417, "unsupported expectation '200-ok'"),
        ("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\n", 417,
         "unsupported expectation '100-continue, x'"),
        // Chunked coding (RFC 9112 §7.1)
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{01}\r\n", 400, "control character in chunk extension"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, "chunk size overflows"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400,
         "chunk size line not terminated by CRLF"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400,
         "chunk data not followed by CRLF"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n", 400,
         "chunk data not followed by CRLF"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400,
         "chunk data not followed by CRLF"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400,
         "trailer line starts with whitespace (obsolete line folding)"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\nY: b\r\n\r\n", 400,
         "line in trailer section not terminated by CRLF (bare LF)"),
    ] as [(String, Int, String)])
    func malformedRequestIsRefused(raw: String, status: Int, reason: String) throws {
        for pieceSize in [Int.max, 1] {
            let events = parseEvents(raw, pieceSize: pieceSize)
            let failure = try #require(events.failure, "no failure for \(raw.debugDescription)")
            #expect(failure.status == status, "\(raw.debugDescription)")
            #expect(failure.reason == reason, "\(raw.debugDescription)")
            #expect(events.requests.isEmpty)
        }
    }

    @Test func identicalContentLengthValuesAreAccepted() throws {
        let events = parseEvents(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc"
        )
        #expect(events.requests.first?.body == Array("abc".utf8))
    }

    @Test func failureIsSticky() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".utf8))
        let first = try #require(parser.next().failure)
        #expect(first.status == 501)
        #expect(parser.phase == .failed)
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(parser.next().failure == first)
        #expect(parser.next().failure == first)
        #expect(parser.phase == .failed)
        #expect(parser.bufferedByteCount == 0)
        #expect(first.description == "501 Not Implemented: unsupported transfer coding 'gzip'")
    }

    // MARK: - Limits

    @Test func headerLimitFailsBeforeTheHeadEnds() throws {
        let limits = HTTPParserLimits(maxHeaderBytes: 1024)
        var parser = HTTPRequestParser(limits: limits)
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: ".utf8))
        var fed = parser.bufferedByteCount
        while fed < 1024 {
            #expect(parser.next().isNeedMoreData)
            parser.append(CollectionOfOne(UInt8(ascii: "v")))
            fed += 1
        }
        #expect(parser.next().isNeedMoreData)
        parser.append(CollectionOfOne(UInt8(ascii: "v")))
        let failure = try #require(parser.next().failure)
        #expect(failure.status == 431)
        #expect(failure.reason == "request header section exceeds 1024 bytes")
    }

    @Test func defaultHeaderLimitReason() throws {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 40_000)
        let failure = try #require(parseEvents(raw, pieceSize: 4096).failure)
        #expect(failure.status == 431)
        #expect(failure.reason == "request header section exceeds 32768 bytes")
    }

    @Test func headerLimitIsInclusive() throws {
        let prefix = "GET / HTTP/1.1\r\nHost: a\r\nX: "
        let limit = 256
        let fitting = prefix + String(repeating: "v", count: limit - prefix.utf8.count - 4) + "\r\n\r\n"
        #expect(fitting.utf8.count == limit)
        let limits = HTTPParserLimits(maxHeaderBytes: limit)
        #expect(parseEvents(fitting, pieceSize: 1, limits: limits).requests.count == 1)
        #expect(parseEvents(fitting, limits: limits).requests.count == 1)
        let over = prefix + String(repeating: "v", count: limit - prefix.utf8.count - 3) + "\r\n\r\n"
        #expect(parseEvents(over, pieceSize: 1, limits: limits).failure?.status == 431)
        #expect(parseEvents(over, limits: limits).failure?.status == 431)
    }

    @Test func headerCountLimit() throws {
        let limits = HTTPParserLimits(maxHeaderCount: 4)
        let fields = (1...3).map { "X-\($0): v\r\n" }.joined()
        #expect(parseEvents("GET / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n", limits: limits).requests.count == 1)
        let tooMany = (1...4).map { "X-\($0): v\r\n" }.joined()
        let failure = try #require(parseEvents("GET / HTTP/1.1\r\nHost: a\r\n\(tooMany)\r\n", limits: limits).failure)
        #expect(failure.status == 431)
        #expect(failure.reason == "request has more than 4 header fields")
    }

    @Test func declaredContentLengthOverLimitFailsAtOnce() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits(maxBodyBytes: 100))
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n".utf8))
        let failure = try #require(parser.next().failure)
        #expect(failure.status == 413)
        #expect(failure.reason == "request body of 101 bytes exceeds the limit of 100 bytes")

        let exact = parseEvents(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + String(repeating: "b", count: 100),
            limits: HTTPParserLimits(maxBodyBytes: 100)
        )
        #expect(exact.requests.first?.body.count == 100)
    }

    @Test func chunkedBodyOverLimitFailsWhenTheSumExceeds() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits(maxBodyBytes: 100))
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        parser.append(Array(("3c\r\n" + String(repeating: "a", count: 60) + "\r\n").utf8))
        #expect(parser.next().isNeedMoreData)
        parser.append(Array("28\r\n".utf8))  // 60 + 40 = 100: allowed
        #expect(parser.next().isNeedMoreData)
        parser.append(Array((String(repeating: "b", count: 40) + "\r\n1\r\n").utf8))
        let failure = try #require(parser.next().failure)
        #expect(failure.status == 413)
        #expect(failure.reason == "chunked request body exceeds the limit of 100 bytes")
    }

    @Test func chunkExtensionsAreBounded() throws {
        let limits = HTTPParserLimits(maxChunkExtensionAndTrailerBytes: 64)
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        let ext = ";" + String(repeating: "e", count: 40)
        let ok = head + "1\(ext)\r\na\r\n0\r\n\r\n"
        #expect(parseEvents(ok, limits: limits).requests.first?.body == Array("a".utf8))
        // Two extensions of 41 bytes exceed 64 together.
        let twice = head + "1\(ext)\r\na\r\n1\(ext)\r\nb\r\n0\r\n\r\n"
        let failure = try #require(parseEvents(twice, limits: limits).failure)
        #expect(failure.status == 400)
        #expect(failure.reason == "chunk extensions exceed 64 bytes")
        // An extension that never ends fails once past the bound.
        let endless = head + "1;" + String(repeating: "e", count: 1000)
        let endlessFailure = try #require(parseEvents(endless, pieceSize: 7, limits: limits).failure)
        #expect(endlessFailure.status == 400)
        #expect(endlessFailure.reason == "chunk size line too long (chunk extensions are limited to 64 bytes)")
    }

    @Test func trailersAreBounded() throws {
        let limits = HTTPParserLimits(maxChunkExtensionAndTrailerBytes: 64)
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
        let ok = head + "X-T: " + String(repeating: "t", count: 40) + "\r\n\r\n"
        #expect(parseEvents(ok, limits: limits).requests.first?.trailers["x-t"]?.count == 40)
        let tooLarge = head + "X-T: " + String(repeating: "t", count: 80)
        let failure = try #require(parseEvents(tooLarge, pieceSize: 3, limits: limits).failure)
        #expect(failure.status == 431)
        #expect(failure.reason == "chunk extensions and trailer section exceed 64 bytes")
    }

    // MARK: - 100-continue (RFC 9110 §10.1.1)

    @Test func continueExpectedOnceBeforeTheBody() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n".utf8))
        #expect(parser.next().isContinueExpected)
        #expect(parser.next().isNeedMoreData)
        #expect(parser.phase == .readingBody)
        parser.append(Array("he".utf8))
        #expect(parser.next().isNeedMoreData)
        parser.append(Array("llo".utf8))
        #expect(parser.next().request?.body == Array("hello".utf8))
        #expect(parser.next().isNeedMoreData)
    }

    @Test func continueExpectedForChunkedBodyFedByteByByte() throws {
        let raw = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
        var parser = HTTPRequestParser()
        let head = parseEvents(Array(raw.utf8), pieceSize: 1, with: &parser)
        #expect(head.count == 1)
        #expect(head.first?.isContinueExpected == true)
        let rest = parseEvents(Array("3\r\nabc\r\n0\r\n\r\n".utf8), pieceSize: 1, with: &parser)
        #expect(rest.count == 1)
        #expect(rest.requests.first?.body == Array("abc".utf8))
    }

    @Test func noContinueWhenTheBodyHasArrived() throws {
        let events = parseEvents("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        #expect(events.count == 1)
        #expect(events.requests.first?.body == Array("hello".utf8))
        let partial = parseEvents("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nh")
        #expect(partial.isEmpty)
    }

    @Test func noContinueWithoutABody() throws {
        let events = parseEvents("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        #expect(events.count == 1)
        #expect(events.requests.count == 1)
    }

    @Test func continueIsIgnoredForHTTP10() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        #expect(parser.next().isNeedMoreData)
        parser.append(Array("ok".utf8))
        #expect(parser.next().request?.body == Array("ok".utf8))
    }

    @Test func continueWithOversizedBodyFailsWith413() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits(maxBodyBytes: 10))
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n".utf8))
        #expect(parser.next().failure?.status == 413)
    }
}
