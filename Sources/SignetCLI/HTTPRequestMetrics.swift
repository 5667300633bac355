import Metrics
import NIOConcurrencyHelpers

/// The request metrics of ``SignetRequestHandler``, made once and reused: creating a swift-metrics
/// handler asks the Prometheus registry, which takes its lock and checks the labels, so doing it
/// for every request cost more than counting.
///
/// - `signet_http_requests_total{path,method,code}`: one counter per combination seen;
/// - `signet_http_request_duration_seconds{path}`: one timer per route.
final class HTTPRequestMetrics: Sendable {
    /// The process's metrics (made on first use, after the metrics system is bootstrapped).
    static let shared = HTTPRequestMetrics()

    /// The routes with their own label; anything else is `other`.
    static let routes = ["/validate", "/mutate", "/healthz", "/readyz", "/metrics"]
    static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    private struct CounterKey: Hashable {
        var route: Int
        var method: Int
        var code: Int
    }

    private let durations: [Timer]
    private let requests = NIOLockedValueBox<[CounterKey: Counter]>([:])

    private init() {
        durations = (Self.routes + ["other"]).map { Timer(label: "signet_http_request_duration_seconds", dimensions: [("path", $0)]) }
    }

    /// Index of `path` in ``routes``, or `routes.count` for `other`.
    static func routeIndex(_ path: String) -> Int {
        routes.firstIndex(of: path) ?? routes.count
    }

    /// Counts one answered request and records how long it took.
    func record(route: Int, method: String, status: Int, duration: Duration) {
        let methodIndex = Self.methods.firstIndex(of: method) ?? Self.methods.count
        let key = CounterKey(route: route, method: methodIndex, code: status)
        let counter = requests.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let label = methodIndex < Self.methods.count ? Self.methods[methodIndex] : "other"
            let path = route < Self.routes.count ? Self.routes[route] : "other"
            let counter = Counter(
                label: "signet_http_requests_total", dimensions: [("path", path), ("method", label), ("code", "\(status)")])
            counters[key] = counter
            return counter
        }
        counter.increment()
        durations[route].record(duration: duration)
    }
}
