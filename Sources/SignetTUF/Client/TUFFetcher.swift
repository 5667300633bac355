/// Fetches repository files (TUF specification section 5: every step that "downloads" a file),
/// bounded in length so that an endless-data attack ends at the bound.
public protocol TUFFetcher: Sendable {
    /// The body at `url`, or nil when the repository says the file does not exist (HTTP 404
    /// or 403, as the end of the root chain in section 5.3.3 is reported). Throws
    /// ``TUFError/Code/lengthMismatch`` past `maximumLength` bytes and
    /// ``TUFError/Code/fetchFailed`` when the repository cannot be reached or fails.
    func fetch(_ url: String, maximumLength: Int) async throws(TUFError) -> [UInt8]?
}
