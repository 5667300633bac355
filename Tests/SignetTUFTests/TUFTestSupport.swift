import Foundation
import SignetTestSupport
import SignetTUF
import Testing

/// Helpers shared by the TUF tests: a client over HTTP to a served repository, dates, vectors.
enum TUFTest {
    /// A client of the repository `server` serves at `metadata/` and `targets/`, with the clock
    /// pinned at `now`.
    static func client(
        _ server: StaticFileServer, bootstrap: [UInt8], now: Date, store: any TUFMetadataStore = TUFMemoryStore(),
        configure: (inout TUFClientConfiguration) -> Void = { _ in }
    ) throws -> TUFClient {
        var configuration = TUFClientConfiguration(layout: TUFStandardLayout(repositoryURL: server.baseURL))
        configure(&configuration)
        return TUFClient(configuration: configuration, fetcher: try fetcher(), store: store, bootstrapRoot: bootstrap, now: { now })
    }

    /// One HTTP fetcher for the whole test process (one libcurl thread).
    static func fetcher() throws -> HTTPTUFFetcher {
        try sharedFetcher.get()
    }

    private static let sharedFetcher = Result { () throws(TUFError) -> HTTPTUFFetcher in
        try HTTPTUFFetcher(configuration: .init(requestTimeout: TestBudget.seconds(60)))
    }

    /// `2025-02-09T12:02:08Z`, or the `faketime` form `2025-02-09 12:02:08+00:00`.
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let normalized = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " ", with: "T")
        return formatter.date(from: normalized)!
    }

    static let conformanceData = TestPaths.vectors.appendingPathComponent("tuf-conformance/tuf_conformance/static_data")
    static let rootSigning = TestPaths.vectors.appendingPathComponent("root-signing")

    static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// Copies `source` (a folder) to `destination`.
    static func copy(_ source: URL, to destination: URL) throws {
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: destination)
    }
}

/// Runs `body` and returns the ``TUFError`` it threw (failing the test when it threw none).
func tufError(_ body: () async throws -> Void) async -> TUFError? {
    do {
        try await body()
        return nil
    } catch let error as TUFError {
        return error
    } catch {
        Issue.record("expected a TUFError, got \(error)")
        return nil
    }
}
