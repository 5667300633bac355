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
