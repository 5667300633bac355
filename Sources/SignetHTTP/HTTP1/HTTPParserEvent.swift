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
