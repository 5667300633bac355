import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetHTTPClient
import SignetRegistry

/// A small client of the Kubernetes API over signet's libcurl transport (one dedicated thread;
/// nothing blocks the cooperative pool): list, get, JSON merge patch (RFC 7386) and watch,
/// authenticated with a bearer token (Kubernetes "Authenticating", service-account tokens).
///
/// Watches follow the API concepts ("Efficient detection of changes"): `?watch=1&resourceVersion=…
/// &allowWatchBookmarks=true&timeoutSeconds=…`, a response streamed as newline-delimited JSON
/// events, read as they arrive.
public final class KubernetesClient: Sendable {
    public let configuration: KubernetesClientConfiguration
    private let transport: HTTPClient
    private let logger: Logger

    public init(configuration: KubernetesClientConfiguration, logger: Logger = Logger(label: "signet.kube")) throws(KubernetesError) {
        self.configuration = configuration
        self.logger = logger
        if let caFile = configuration.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw KubernetesError(.configuration, "the API server CA \(caFile) is not readable")
        }
        guard (configuration.clientCertificateFile == nil) == (configuration.clientKeyFile == nil) else {
            throw KubernetesError(.configuration, "a client certificate needs its key, and a key its certificate")
        }
        for file in [configuration.clientCertificateFile, configuration.clientKeyFile].compactMap({ $0 })
        where !FileManager.default.isReadableFile(atPath: file) {
            throw KubernetesError(.configuration, "the client certificate or key \(file) is not readable")
        }
        do {
            var transportConfiguration = HTTPClient.Configuration(
                caBundlePath: configuration.caFile, connectTimeout: configuration.connectTimeout,
                idleTimeout: configuration.watchTimeout + .seconds(60), userAgent: "signet-kube")
            transportConfiguration.clientCertificatePath = configuration.clientCertificateFile
            transportConfiguration.clientKeyPath = configuration.clientKeyFile
            transport = try HTTPClient(configuration: transportConfiguration)
        } catch {
            throw KubernetesError(.configuration, error.description)
        }
    }

    deinit { transport.shutdown() }

    /// Stops the transfer thread.
    public func shutdown() { transport.shutdown() }

    // MARK: - Requests

    /// Lists the objects of `resource` in `scope` (by default every object, all namespaces), in
    /// pages of ``KubernetesClientConfiguration/listPageSize`` (API concepts, "Retrieving large
    /// results sets in chunks"): each page's `metadata.continue` asks for the next, all from one
    /// consistent snapshot. When the server has compacted that snapshot away (410 Gone on a
    /// continue token), the list starts again from the first page, at most
    /// ``maximumListRestarts`` times. The items come without `metadata.managedFields`
    /// (``KubernetesObject``).
    public func list(_ resource: KubernetesResource, scope: KubernetesListScope = .all) async throws(KubernetesError) -> KubernetesObjectList {
        var restarts = 0
        while true {
            do {
                return try await listPages(resource, scope: scope)
            } catch let error where error.isGone && error.duringContinuation && restarts < Self.maximumListRestarts {
                restarts += 1
                logger.info("list continuation expired; listing again", metadata: ["resource": "\(resource)", "restart": "\(restarts)"])
            }
        }
    }

    /// How often a list whose continue token expired starts again before the error is thrown.
    static let maximumListRestarts = 3
    /// The most pages one list follows: a server that never stops answering `continue` is an error.
    static let maximumListPages = 10_000

    /// Pages of ``KubernetesClientConfiguration/listPageSize`` objects; a page larger than the
    /// client reads (objects of a megabyte each, as anyone who can create Pods can make them) is
    /// asked again with half as many objects, down to one, so no namespace's objects can keep
    /// a list (and everything that waits for it, such as continuous verification) from ending.
    private func listPages(_ resource: KubernetesResource, scope: KubernetesListScope) async throws(KubernetesError) -> KubernetesObjectList {
        var items: [KubernetesObject] = []
        var version = ""
        var token: String? = nil
        var pageSize = max(1, configuration.listPageSize)
        var limit = configuration.maximumResponseBytes
        var page = 0
        while page < Self.maximumListPages {
            var query = [scope.queryItem, "limit=\(pageSize)"].filter { !$0.isEmpty }
            if let token { query.append("continue=" + Self.percentEncoded(token)) }
            let response: [UInt8]
            do {
                response = try await send("GET", resource.collectionPath(namespace: scope.namespace) + "?" + query.joined(separator: "&"), maximumBytes: limit)
            } catch let error where error.isResponseTooLarge && pageSize > 1 {
                pageSize /= 2
                logger.notice("a list page was larger than signet reads; asking for fewer objects a page", metadata: [
                    "resource": "\(resource)", "page_size": "\(pageSize)",
                ])
                continue
            } catch let error where error.isResponseTooLarge && limit < configuration.maximumObjectBytes {
                // One object larger than a page may be: read it alone, up to an object's limit.
                limit = configuration.maximumObjectBytes
                continue
            } catch {
                throw page == 0 ? error : error.continuing()
            }
            page += 1
            // Past the large objects (a page well within the limit), the pages grow back to their size.
            if response.count < configuration.maximumResponseBytes / 4 { pageSize = min(max(1, configuration.listPageSize), pageSize * 2) }
            limit = configuration.maximumResponseBytes
            guard let list = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any] else {
                throw KubernetesError(.decoding, "the \(resource) list is not a JSON object")
            }
            let metadata = list["metadata"] as? [String: Any]
            version = metadata?["resourceVersion"] as? String ?? version
            items += (list["items"] as? [[String: Any]] ?? []).compactMap {
                KubernetesObject(dictionary: $0, resource: resource, dropsManagedFields: true)
            }
            guard let next = metadata?["continue"] as? String, !next.isEmpty else {
                return KubernetesObjectList(items: items, resourceVersion: version)
            }
            token = next
        }
        throw KubernetesError(.decoding, "the \(resource) list did not end after \(Self.maximumListPages) pages")
    }

    private static func percentEncoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// One object, or `nil` when it does not exist; given up at `deadline` when that comes
    /// before the request timeout (an admission's own deadline).
    public func get(
        _ resource: KubernetesResource, name: String, namespace: String?, deadline: ContinuousClock.Instant? = nil
    ) async throws(KubernetesError) -> KubernetesObject? {
        let body: [UInt8]
        do {
            body = try await send("GET", resource.objectPath(name: name, namespace: namespace), deadline: deadline)
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw KubernetesError(.decoding, "\(resource) \(name) is not a JSON object")
        }
        return KubernetesObject(dictionary: object, resource: resource)
    }

    /// Applies a JSON merge patch to the object's `status` subresource.
    public func patchStatus(_ resource: KubernetesResource, name: String, namespace: String?, patch: [UInt8]) async throws(KubernetesError) {
        _ = try await send(
            "PATCH", resource.objectPath(name: name, namespace: namespace) + "/status", body: patch,
            contentType: "application/merge-patch+json")
    }

    /// Applies a JSON merge patch (RFC 7386) to the object; the stored object.
    @discardableResult
    public func patch(_ resource: KubernetesResource, name: String, namespace: String?, patch: [UInt8]) async throws(KubernetesError) -> [UInt8] {
        try await send("PATCH", resource.objectPath(name: name, namespace: namespace), body: patch, contentType: "application/merge-patch+json")
    }

    /// Creates `object` (JSON) in `namespace` (`POST` to the collection; `nil` for a
    /// cluster-scoped resource); the stored object, or for a review the server's answer.
    @discardableResult
    public func create(_ resource: KubernetesResource, namespace: String?, object: [UInt8]) async throws(KubernetesError) -> [UInt8] {
        try await send("POST", resource.collectionPath(namespace: namespace), body: object, contentType: "application/json")
    }

    /// Replaces the stored object with `object` (`PUT`; the object carries the
    /// `metadata.resourceVersion` it was read at, so a concurrent change gets 409); the stored object.
    @discardableResult
    public func replace(_ resource: KubernetesResource, name: String, namespace: String?, object: [UInt8]) async throws(KubernetesError) -> [UInt8] {
        try await send("PUT", resource.objectPath(name: name, namespace: namespace), body: object, contentType: "application/json")
    }

    /// Creates a cluster-scoped object (`POST` to the collection); the stored object.
    @discardableResult
    public func createClusterScoped(_ resource: KubernetesResource, object: [UInt8]) async throws(KubernetesError) -> [UInt8] {
        try await send("POST", resource.collectionPath, body: object, contentType: "application/json")
    }

    private func headers(contentType: String? = nil) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        let token = configuration.tokenFile.map {
            (try? String(contentsOfFile: $0, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        } ?? configuration.bearerToken
        if let token, !token.isEmpty {
            headers.append(("Authorization", "Bearer \(token)"))
        }
        return headers
    }

    /// `maximumBytes`: a list page's limit; a single object's (``KubernetesClientConfiguration/maximumObjectBytes``) when nil.
    private func send(
        _ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil, deadline: ContinuousClock.Instant? = nil,
        maximumBytes: Int? = nil
    ) async throws(KubernetesError) -> [UInt8] {
        let response: HTTPClient.Response
        let timeout = ContinuousClock.now + configuration.requestTimeout
        do {
            response = try await transport.send(
                method: method, url: configuration.serverURL + path, headers: headers(contentType: contentType), body: body,
                maximumResponseBytes: maximumBytes ?? configuration.maximumObjectBytes, deadline: deadline.map { min($0, timeout) } ?? timeout)
        } catch {
            var failure = KubernetesError(.transport, "\(method) \(path): \(error.description)")
            failure.isResponseTooLarge = error.isTooLarge
            throw failure
        }
        guard (200..<300).contains(response.status) else {
            throw Self.statusError(status: response.status, body: response.body, what: "\(method) \(path)")
        }
        return response.body
    }

    static func statusError(status: Int, body: [UInt8], what: String) -> KubernetesError {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        let message = object?["message"] as? String ?? String(decoding: body.prefix(200), as: UTF8.self)
        return KubernetesError(.status, "\(what): \(message)", statusCode: object?["code"] as? Int ?? status)
    }

    // MARK: - Watch

    /// Watches `resource` in `scope` from `resourceVersion`. The stream yields events as they arrive and
    /// finishes when the server ends the watch (its `timeoutSeconds`); it throws when the
    /// connection breaks or the server has not ended it within ``KubernetesClientConfiguration/watchEndGrace``
    /// after that, or with a 410 ``KubernetesError`` when the server answers Gone.
    /// Cancelling the consuming task ends the transfer. Objects come without
    /// `metadata.managedFields` (``KubernetesObject``).
    public func watch(
        _ resource: KubernetesResource, resourceVersion: String, scope: KubernetesListScope = .all
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        let seconds = Int(configuration.watchTimeout.components.seconds)
        var query = "watch=1&allowWatchBookmarks=true&timeoutSeconds=\(max(1, seconds))"
        if !resourceVersion.isEmpty { query += "&resourceVersion=\(resourceVersion)" }
        if !scope.queryItem.isEmpty { query += "&" + scope.queryItem }
        let url = configuration.serverURL + resource.collectionPath(namespace: scope.namespace) + "?" + query
        let headers = headers()
        let deadline = ContinuousClock.now + configuration.watchTimeout + configuration.watchEndGrace
        let waited = Int((configuration.watchTimeout + configuration.watchEndGrace).components.seconds)
        let transport = transport
        let parser = NIOLockedValueBox(WatchStreamParser(resource: resource, maximumLineBytes: configuration.maximumObjectBytes))
        let task = Task {
            do {
                let response = try await transport.stream(url: url, headers: headers, deadline: deadline) { status, bytes in
                    parser.withLockedValue { $0.feed(status: status, bytes: bytes, into: continuation) }
                }
                let error = parser.withLockedValue { $0.finish(status: response.status, into: continuation) }
                continuation.finish(throwing: error)
            } catch let error as HTTPClient.Failure {
                // A server ends a watch at its timeoutSeconds: one that has not after the grace
                // hangs (a partition, a stuck balancer), and the watch is broken, not ended.
                continuation.finish(throwing: KubernetesError(.transport, error.isTimeout
                    ? "watch \(resource): the server neither ended the watch nor broke the connection within \(waited) s"
                    : "watch \(resource): \(error.description)"))
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// Turns streamed bytes into events; keeps an error body for a non-200 answer.
struct WatchStreamParser: Sendable {
    let resource: KubernetesResource
    private var lines: LineSplitter
    private var errorBody: [UInt8] = []
    private var failed = false

    init(resource: KubernetesResource, maximumLineBytes: Int) {
        self.resource = resource
        lines = LineSplitter(maximumLineBytes: maximumLineBytes)
    }

    mutating func feed(status: Int, bytes: [UInt8], into continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) {
        guard status == 200 else {
            if errorBody.count < 64 * 1024 { errorBody += bytes }
            return
        }
        guard !failed else { return }
        let complete: [[UInt8]]
        do {
            complete = try lines.feed(bytes)
        } catch {
            failed = true
            continuation.finish(throwing: error)
            return
        }
        for line in complete {
            do {
                continuation.yield(try WatchEvent.parse(line: line, resource: resource))
            } catch {
                failed = true
                continuation.finish(throwing: error)
                return
            }
        }
    }

    /// The error to end the stream with, if any.
    mutating func finish(status: Int, into continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) -> KubernetesError? {
        guard status == 200 else {
            return KubernetesClient.statusError(status: status, body: errorBody, what: "watch \(resource)")
        }
        if let line = lines.finish() {
            do {
                continuation.yield(try WatchEvent.parse(line: line, resource: resource))
            } catch {
                return error
            }
        }
        return nil
    }
}
