import Foundation
import SignetHTTP
import Testing

@Suite("HTTP/1.1 response encoder")
struct HTTP1EncoderTests {
    private func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    @Test func smallResponseIsByteExact() {
        let bytes = HTTPResponseEncoder.encode(.text(200, "ok"), keepAlive: true)
        let expected = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 2\r\n\r\nok".utf8)
        #expect(bytes == expected)
    }

    /// RFC 9110 §9.3.2: a HEAD answer has the GET's fields, its Content-Length included, and no body.
    @Test func headAnswersTheGetsLengthWithoutABody() {
        let bytes = HTTPResponseEncoder.encode(.text(200, "ok\n"), keepAlive: true, headRequest: true)
        #expect(text(bytes) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 3\r\n\r\n")
    }

    /// RFC 9112 §7.1: a streamed body's head says `Transfer-Encoding: chunked` instead of a
    /// length; each chunk is its size in hexadecimal and the bytes, and a zero chunk ends it.
    @Test func streamedBodiesAreChunked() {
        let head = HTTPResponseEncoder.encode(
            HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/event-stream")]), body: Array("ignored".utf8)),
            keepAlive: false, chunked: true)
        #expect(text(head) == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        // For an HTTP/1.0 client, neither a length nor chunks: the close ends the body.
        let closeDelimited = HTTPResponseEncoder.encode(
            HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/event-stream")]), body: Array("ignored".utf8)),
            version: .http1_0, keepAlive: false, closeDelimited: true)
        #expect(text(closeDelimited) == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        #expect(text(HTTPResponseEncoder.chunk(Array(String(repeating: "x", count: 26).utf8))) == "1a\r\n" + String(repeating: "x", count: 26) + "\r\n")
        #expect(HTTPResponseEncoder.chunk([]).isEmpty, "an empty chunk would end the body")
        #expect(text(HTTPResponseEncoder.lastChunk) == "0\r\n\r\n")
    }

    @Test func notKeepingAliveAddsConnectionClose() {
        let bytes = HTTPResponseEncoder.encode(HTTPResponse(status: 404), keepAlive: false)
        #expect(text(bytes) == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    @Test func http10KeepAliveIsEchoed() {
        let response = HTTPResponse.json(200, Array("{}".utf8))
        let kept = HTTPResponseEncoder.encode(response, version: .http1_0, keepAlive: true)
        #expect(
            text(kept) == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
        )
        let closed = HTTPResponseEncoder.encode(response, version: .http1_0, keepAlive: false)
        #expect(
            text(closed) == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
    }

    @Test func dateIsAddedUnlessPresent() {
        let date = HTTPResponseEncoder.imfFixdate(Date(timeIntervalSince1970: 784_111_777))
        let bytes = HTTPResponseEncoder.encode(HTTPResponse(status: 204), keepAlive: true, date: date)
        #expect(text(bytes) == "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n")

        var response = HTTPResponse(status: 200)
        response.headers.add(name: "date", value: "Thu, 01 Jan 1970 00:00:00 GMT")
        let kept = HTTPResponseEncoder.encode(response, keepAlive: true, date: date)
        #expect(text(kept) == "HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func encoderOwnsFramingFields() {
        let response = HTTPResponse(
            status: 200,
            headers: HTTPHeaders([
                ("Content-Length", "999"), ("transfer-encoding", "chunked"), ("Connection", "keep-alive"),
                ("X-Kept", "yes"),
            ]),
            body: Array("abc".utf8)
        )
        let bytes = HTTPResponseEncoder.encode(response, keepAlive: false)
        #expect(text(bytes) == "HTTP/1.1 200 OK\r\nX-Kept: yes\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    }

    @Test func responseCannotBeSplit() {
        let response = HTTPResponse(
            status: 200,
            headers: HTTPHeaders([("X-Reason", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("X-Tab", "a\tb")])
        )
        let bytes = HTTPResponseEncoder.encode(response, keepAlive: true)
        #expect(
            text(bytes) == "HTTP/1.1 200 OK\r\nX-Reason: a  Set-Cookie: x=1\r\nX-Tab: a\tb\r\nContent-Length: 0\r\n\r\n"
        )
    }

    @Test func informationalAndNoContentHaveNoBody() {
        let bytes = HTTPResponseEncoder.encode(HTTPResponse(status: 204, body: Array("ignored".utf8)), keepAlive: true)
        #expect(text(bytes) == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(text(HTTPResponseEncoder.continueResponse) == "HTTP/1.1 100 Continue\r\n\r\n")
    }

    @Test func unknownStatusHasEmptyReasonPhrase() {
        let bytes = HTTPResponseEncoder.encode(HTTPResponse(status: 599), keepAlive: true)
        #expect(text(bytes) == "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n")
    }

    @Test(arguments: [
        (200, "OK"), (400, "Bad Request"), (403, "Forbidden"), (404, "Not Found"), (413, "Content Too Large"),
        (417, "Expectation Failed"), (431, "Request Header Fields Too Large"), (500, "Internal Server Error"),
        (501, "Not Implemented"), (503, "Service Unavailable"), (505, "HTTP Version Not Supported"), (299, ""),
    ])
    func reasonPhrases(status: Int, phrase: String) {
        #expect(HTTPResponse.reasonPhrase(for: status) == phrase)
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777.0, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_709_208_000.5, "Thu, 29 Feb 2024 12:00:00 GMT"),
        (4_133_980_799.0, "Fri, 31 Dec 2100 23:59:59 GMT"),
        (-1.0, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func imfFixdate(seconds: Double, expected: String) {
        #expect(HTTPResponseEncoder.imfFixdate(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func imfFixdateMatchesAFormatter() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var seconds = -2_000_000_000.0
        while seconds < 5_000_000_000 {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(HTTPResponseEncoder.imfFixdate(date) == formatter.string(from: date))
            seconds += 86_399 * 37 + 0.25
        }
    }

    @Test func encodedErrorResponseForAParseFailure() throws {
        let events = parseEvents("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
        let failure = try #require(events.failure)
        let bytes = HTTPResponseEncoder.encode(.text(failure.status, failure.reason), keepAlive: false)
        #expect(
            text(bytes)
                == "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 34\r\nConnection: close\r\n\r\nunsupported transfer coding 'gzip'"
        )
    }
}
