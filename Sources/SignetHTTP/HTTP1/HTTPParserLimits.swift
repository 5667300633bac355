/// Bounds on what one request may make the parser hold, so that a client cannot exhaust memory.
///
/// RFC 9112 §2.3 and RFC 9110 §15.5.14 / §15.5.20 let a server refuse a header section (431) or a
/// body (413) larger than it is willing to process. The defaults fit a webhook that receives
/// AdmissionReviews of a few hundred kilobytes at most, with a wide margin:
///
/// | limit | default | status when exceeded |
/// |---|---|---|
/// | ``maxHeaderBytes`` | 32 KiB | 431, as soon as the incomplete head passes it |
/// | ``maxHeaderCount`` | 128 | 431 |
/// | ``maxBodyBytes`` | 8 MiB | 413, at once for a declared Content-Length |
/// | ``maxChunkExtensionAndTrailerBytes`` | 8 KiB | 400 for chunk extensions, 431 for trailers |
public struct HTTPParserLimits: Sendable, Hashable {
    /// The most bytes of the request line plus all header lines, line terminators and the empty
    /// line included.
    public var maxHeaderBytes: Int
    /// The most header field lines.
    public var maxHeaderCount: Int
    /// The most bytes of decoded body: the Content-Length, or the sum of the chunk sizes.
    public var maxBodyBytes: Int
    /// The most bytes of chunk extensions (RFC 9112 §7.1.1) and trailer section (RFC 9112 §7.1.2)
    /// together, over one request.
    public var maxChunkExtensionAndTrailerBytes: Int

    public init(
        maxHeaderBytes: Int = 32 * 1024,
        maxHeaderCount: Int = 128,
        maxBodyBytes: Int = 8 * 1024 * 1024,
        maxChunkExtensionAndTrailerBytes: Int = 8 * 1024
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkExtensionAndTrailerBytes = maxChunkExtensionAndTrailerBytes
    }
}
