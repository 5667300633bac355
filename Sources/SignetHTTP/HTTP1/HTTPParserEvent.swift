/// What ``HTTPRequestParser/next()`` found in the bytes buffered so far.
///
/// RFC 9112 §9.3.2 (pipelining): each complete request is returned by its own call, in order.
public enum HTTPParserEvent: Sendable {
    /// No complete request yet; append more bytes.
    case needMoreData
    /// The head of a request with `Expect: 100-continue` (RFC 9110 §10.1.1) is complete, its body
    /// is acceptable and none of it has arrived: the server should write
    /// ``HTTPResponseEncoder/continueResponse`` and keep reading. Returned at most once per request.
    case continueExpected
    /// A complete request.
    case request(HTTPRequest)
    /// The request is malformed or over a limit; the parser stays failed. Answer with the error's
    /// status and close the connection.
    case failure(HTTPParseError)
}

/// Where the parser is within the current request, so the server can choose its timeouts
/// (idle keep-alive, header read, body read) and decide whether closing loses a request.
public enum HTTPParserPhase: Sendable, Equatable {
    /// Nothing of a next request is buffered.
    case idle
    /// Part of a request line or header section (RFC 9112 §2.1) is buffered.
    case readingHead
    /// The head is complete and the body (RFC 9112 §6) is being read.
    case readingBody
    /// A parse error occurred; no further request will be returned.
    case failed
}
