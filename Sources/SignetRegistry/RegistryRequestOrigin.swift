/// Who the registry requests of the current task are made for: the namespace of the admission
/// being verified. The registry client's response budget groups downloads by it, so when room
/// runs out the namespace holding the most loses a download, never another one
/// (``RegistryClientConfiguration/maximumBufferedResponseBytes``). Requests made outside an
/// admission (continuous verification, the command-line tools) share the empty origin.
public enum RegistryRequestOrigin {
    @TaskLocal public static var current: String?

    /// Runs `body` with its registry requests made for `origin`.
    public static func using<Result: Sendable>(_ origin: String?, _ body: () async throws -> Result) async rethrows -> Result {
        try await $current.withValue(origin) { try await body() }
    }
}
