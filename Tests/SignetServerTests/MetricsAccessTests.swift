import NIOConcurrencyHelpers
import SignetAdmission
import SignetConsole
import SignetHTTP
import SignetKube
import Testing

@testable import SignetCLI

/// `/metrics` behind `--metrics-auth kubernetes`: a bearer token is reviewed before the metrics
/// are written, each refusal answered with its own status; the probes stay open. (The reviews
/// themselves, against a real kube-apiserver's RBAC, are in Tests/E2E.)
struct MetricsAccessTests {
    private static func handler(_ access: (@Sendable (String, String) async -> ConsoleAccessDecision)?) -> SignetRequestHandler {
        let unused = AdmissionHTTPResult(status: 500, contentType: "text/plain", body: [])
        var handler = SignetRequestHandler(
            admit: { _, _, _ in .answered(unused) }, mutate: { _, _, _ in .answered(unused) },
            readiness: ReadinessState(), maximumAdmissionTime: .seconds(10))
        handler.metricsAccess = access
        return handler
    }

    private static func get(_ path: String, authorization: String? = nil, method: String = "GET", from handler: SignetRequestHandler) async -> HTTPResponse {
        var headers = HTTPHeaders()
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        return await handler.handle(HTTPRequest(method: method, target: path, headers: headers), context: HTTPRequestContext(remoteAddress: "10.0.0.7:41000"))
    }

    @Test func aScrapeNeedsAReviewedTokenWhoseUserMayGetMetrics() async {
        let asked = NIOLockedValueBox<[String]>([])
        let handler = Self.handler { token, peer in
            asked.withLockedValue { $0.append("\(token) from \(peer)") }
            switch token {
            case "prometheus": return .allowed(KubernetesUserInfo(username: "system:serviceaccount:monitoring:prometheus"))
            case "tenant": return .forbidden(KubernetesUserInfo(username: "system:serviceaccount:team:app"), "user system:serviceaccount:team:app may not get /metrics")
            case "outage": return .unavailable("the API server could not review the token")
            case "flood": return .throttled("too many sign-in and access checks from this address; retry in a few seconds")
            default: return .unauthenticated("the API server did not authenticate the token")
            }
        }
        for authorization in [nil, "Basic cHJvbWV0aGV1czp4", "Bearer ", "Bearer"] as [String?] {
            let refused = await Self.get("/metrics", authorization: authorization, from: handler)
            #expect(refused.status == 401, "\(authorization ?? "none")")
            #expect(refused.headers["WWW-Authenticate"] == "Bearer realm=\"signet-metrics\"")
        }
        #expect(asked.withLockedValue { $0 }.isEmpty, "no review without a bearer token")

        let allowed = await Self.get("/metrics", authorization: "Bearer prometheus", from: handler)
        #expect(allowed.status == 200)
        #expect(allowed.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(await Self.get("/metrics", authorization: "bearer prometheus", method: "HEAD", from: handler).status == 200)
        #expect(asked.withLockedValue { $0 } == ["prometheus from 10.0.0.7:41000", "prometheus from 10.0.0.7:41000"])

        let forbidden = await Self.get("/metrics", authorization: "Bearer tenant", from: handler)
        #expect(forbidden.status == 403)
        #expect(String(decoding: forbidden.body, as: UTF8.self) == "user system:serviceaccount:team:app may not get /metrics\n")
        #expect(!String(decoding: forbidden.body, as: UTF8.self).contains("signet_"), "no metric in a refusal")
        let unknown = await Self.get("/metrics", authorization: "Bearer made-up", from: handler)
        #expect(unknown.status == 401)
        #expect(await Self.get("/metrics", authorization: "Bearer outage", from: handler).status == 503)
        let throttled = await Self.get("/metrics", authorization: "Bearer flood", from: handler)
        #expect(throttled.status == 429)
        #expect(throttled.headers["Retry-After"] == "2")

        // The probes need no token; another method is still refused as before.
        #expect(await Self.get("/healthz", from: handler).status == 200)
        #expect(await Self.get("/metrics", method: "DELETE", from: handler).status == 405)
    }

    @Test func withoutMetricsAuthAnyoneReadsTheMetrics() async {
        #expect(await Self.get("/metrics", from: Self.handler(nil)).status == 200)
    }

    @Test func theFlagTakesNoneOrKubernetes() throws {
        #expect(try MetricsAccessOptions.parse([]).required() == false)
        #expect(try MetricsAccessOptions.parse(["--metrics-auth", "kubernetes"]).required() == true)
        #expect(try MetricsAccessOptions.parse(["--metrics-auth", "none"]).required() == false)
        #expect(throws: (any Error).self) { try MetricsAccessOptions.parse(["--metrics-auth", "open"]).required() }
    }
}
