import Foundation
import SignetTestSupport
import Testing

/// The real `signet serve` binary over TLS, driven by real clients: the `curl` command line
/// (libcurl) and Python's `ssl`/`http.client`/`socket`. Each test starts its own server on a
/// free 127.0.0.1 port and stops it.
@Suite(.serialized)
struct LiveServerTests {
    let policies: TemporaryDirectory
    let scratch = TemporaryDirectory(prefix: "signet-live")

    init() throws {
        policies = try LivePolicies.makeDirectory()
    }

    func startServer(_ arguments: [String] = []) async throws -> SignetServerFixture {
        try await SignetServerFixture.start(policyDirectory: policies.path, arguments: arguments)
    }

    // MARK: - AdmissionReview over the wire

    @Test func curlGetsAWellFormedAdmissionReviewWithQueryString() async throws {
        let server = try await startServer()
        let uid = "0d9a3f2c-1111-4e5e-9a47-6f1c2b7a0001"
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], uid: uid), in: scratch)
        let (status, body) = try await server.review(file)
        #expect(status == 200)
        let response = try admissionResponse(body)
        #expect(response["uid"] as? String == uid)
        #expect(response["allowed"] as? Bool == true)
        #expect((response["auditAnnotations"] as? [String: String])?["decision"] == "allowed")
    }

    /// `serve` gathers audit lines and writes them once per event-loop pass, before that pass's
    /// answers: by the time a client has read an answer, its audit line is on standard output,
    /// also when the client asked to close the connection after it (`Connection: close`).
    @Test func auditLineIsOnStandardOutputBeforeTheAnswer() async throws {
        let server = try await startServer()
        for index in 0..<20 {
            let uid = "audit-order-\(index)"
            let file = try ReviewBodies.write(
                ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], uid: uid), in: scratch)
            let closing = index % 2 == 1 ? ["-H", "Connection: close"] : []
            let result = try await server.curl(
                ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json"] + closing
                    + ["--data-binary", "@\(file)", "\(server.baseURL)/validate?timeout=30s"])
            #expect(result.stdout == "200", "\(result.stderr)")
            let records = server.process.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            #expect(records.contains { $0["uid"] as? String == uid && $0["event"] as? String == "admission" }, "\(uid)")
        }
        #expect(server.stop() == 0)
        #expect(server.process.stdout.split(separator: "\n").count == 20)
    }

    @Test(arguments: ["Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"])
    func everyWorkloadKindIsDecidedOverTLS(kind: String) async throws {
        let server = try await startServer()
        let allowed = try ReviewBodies.write(
            ReviewBodies.make(kind: kind, images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch, name: "a.json")
        let denied = try ReviewBodies.write(
            ReviewBodies.make(kind: kind, images: [("web", "ghcr.io/signet-demo/web:1.0"), ("proxy", "nginx:1.25")]),
            in: scratch, name: "d.json")
        let allowResponse = try admissionResponse(try await server.review(allowed).body)
        #expect(allowResponse["allowed"] as? Bool == true)
        let denyResponse = try admissionResponse(try await server.review(denied).body)
        #expect(denyResponse["allowed"] as? Bool == false)
        let status = try #require(denyResponse["status"] as? [String: Any])
        #expect(status["code"] as? Int == 403)
        let message = try #require(status["message"] as? String)
        #expect(message.contains("docker.io/library/nginx:1.25"))
        #expect(message.contains("no-docker-hub"))
        #expect(message.contains("Docker Hub images are not trusted here"))
    }

    @Test func dryRunGetsTheSameDecisionAndIsMarked() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "Deployment", images: [("proxy", "nginx:1.25")], dryRun: true), in: scratch)
        let response = try admissionResponse(try await server.review(file).body)
        #expect(response["allowed"] as? Bool == false)
        #expect((response["auditAnnotations"] as? [String: String])?["dry-run"] == "true")
        let metrics = try await server.metrics()
        #expect(metrics.contains(#"dry_run="true""#))
    }

    @Test func malformedReviewsGetBadRequestNotAnAllow() async throws {
        let server = try await startServer()
        for (name, body) in [("text", "this is not json"), ("array", "[1,2]"), ("kind", #"{"apiVersion":"v1","kind":"Pod"}"#)] {
            let file = try ReviewBodies.write(Array(body.utf8), in: scratch, name: "\(name).json")
            let (status, text) = try await server.review(file)
            #expect(status == 400, "\(name)")
            #expect(!text.contains(#""allowed":true"#), "\(name)")
        }
        // The server is still healthy afterwards.
        #expect(try await server.curl(["-sf", "\(server.baseURL)/healthz"]).stdout == "ok\n")
        // HEAD: the GET's Content-Length, no body (curl would wait for 3 bytes that never come
        // if the length were not the one it is told).
        let head = try await server.curl(["-sSI", "\(server.baseURL)/healthz"])
        #expect(head.stdout.lowercased().contains("content-length: 3\r\n"), "\(head.stdout)")
    }

    @Test func chunkedBodiesAreAccepted() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], padding: 20_000), in: scratch)
        let result = try await LiveClient.run("request", server, ["--method", "POST", "--path", "/validate?timeout=10s", "--body-file", file, "--chunked"])
        #expect(result["status"] as? Int == 200)
        #expect(try admissionResponse(result["body"] as! String)["allowed"] as? Bool == true)
        // And from libcurl, which sends chunked when told to.
        let curl = try await server.curl([
            "-sS", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/json",
            "--data-binary", "@\(file)", "\(server.baseURL)/validate?timeout=10s",
        ])
        #expect(try admissionResponse(curl.stdout)["allowed"] as? Bool == true)
    }

    // MARK: - Connections

    /// Answers that need no waiting are written while the server is still reading the
    /// connection: a dozen, and hundreds in one read, must come back complete and in order,
    /// without the server nesting a call per request.
    @Test(arguments: [12, 600])
    func pipelinedRequestsAreAnsweredInOrder(count: Int) async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run("pipelined", server, ["--count", "\(count)", "--path", "/validate?timeout=10s", "--body-file", file])
        #expect(result["closed_early"] as? Bool == false)
        #expect(result["statuses"] as? [Int] == Array(repeating: 200, count: count))
        #expect(result["uids"] as? [String] == (0..<count).map { "p\($0)" })
    }

    /// A client that asks to be told before it sends the body (`Expect: 100-continue`) gets
    /// `100 Continue`, then the answer.
    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await server.curl([
            "-sS", "-v", "--expect100-timeout", "30", "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
            "--data-binary", "@\(file)", "-o", "/dev/null", "-w", "%{http_code}", "\(server.baseURL)/validate?timeout=10s",
        ])
        #expect(result.stdout == "200")
        #expect(result.stderr.contains("< HTTP/1.1 100 Continue"))
    }

    @Test func keepAliveConnectionsAreReused() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run("keepalive", server, ["--count", "5", "--path", "/validate?timeout=10s", "--body-file", file])
        #expect(result["statuses"] as? [Int] == [200, 200, 200, 200, 200])
        #expect(Set(result["local_ports"] as? [Int] ?? []).count == 1)
        // libcurl reuses the connection for a second URL in the same invocation.
        let curl = try await server.curl(["-sv", "-o", "/dev/null", "-o", "/dev/null", "\(server.baseURL)/healthz", "\(server.baseURL)/readyz"])
        #expect(curl.stderr.contains("Re-using existing connection"))
    }

    @Test func tlsVersionsAndALPN() async throws {
        let server = try await startServer()
        let modern = try await LiveClient.run("tls", server, ["--alpn", "h2,http/1.1"])
        #expect(modern["handshake"] as? Bool == true)
        #expect(modern["version"] as? String == "TLSv1.3")
        #expect(modern["alpn"] as? String == "http/1.1")
        let tls12 = try await LiveClient.run("tls", server, ["--max-version", "TLSv1_2"])
        #expect(tls12["version"] as? String == "TLSv1.2")
        #expect(tls12["status"] as? Int == 200)
        let tls11 = try await LiveClient.run("tls", server, ["--min-version", "TLSv1_1", "--max-version", "TLSv1_1"])
        #expect(tls11["handshake"] as? Bool == false)
        let h2Only = try await LiveClient.run("tls", server, ["--alpn", "h2"])
        #expect(h2Only["handshake"] as? Bool == false)
    }

    @Test func clientCertificatesGuardValidateWhenAClientCAIsSet() async throws {
        let apiServerPKI = try TestPKI()
        let server = try await startServer(["--client-ca", apiServerPKI.clientCAFile])
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let validate = ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                        "--data-binary", "@\(file)", "\(server.baseURL)/validate"]
        // Probes present no certificate and are served; /validate without one is refused.
        #expect(try await server.curl(["-sS", "\(server.baseURL)/healthz"]).stdout == "ok\n")
        #expect(try await server.curl(validate).stdout == "403")
        // The API server's certificate, from the configured client CA, is accepted.
        let accepted = try await server.curl(["--cert", apiServerPKI.clientCertFile, "--key", apiServerPKI.clientKeyFile] + validate)
        #expect(accepted.stdout == "200")
        // A certificate from another CA is refused: with TLS 1.2 in the handshake itself; with
        // TLS 1.3 the client's side of the handshake completes before the server has checked
        // its certificate, and the refusal (an alert, or the close) meets the first read. Either
        // way nothing is answered, and a failure says it was the certificate.
        let wrongCA = try await LiveClient.run("tls", server, [], clientCertificate: true)
        #expect(wrongCA["status"] == nil || wrongCA["status"] is NSNull, "answered: \(wrongCA)")
        if wrongCA["handshake"] as? Bool == false {
            let error = (wrongCA["error"] as? String ?? "").lowercased()
            #expect(error.contains("certificate") || error.contains("unknown ca") || error.contains("alert"), "\(wrongCA)")
        }
        #expect(try await server.curl(["-sS", "\(server.baseURL)/healthz"]).stdout == "ok\n")
    }

    @Test func twoHundredConcurrentConnections() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run("concurrent", server, ["--count", "200", "--path", "/validate?timeout=10s", "--body-file", file])
        #expect(result["ok"] as? Int == 200, "\(result)")
    }

    @Test func maximumConnectionsAreEnforcedAndRecovered() async throws {
        let server = try await startServer(["--max-connections", "4"])
        let result = try await LiveClient.run("hold", server, ["--count", "4"])
        #expect(result["served"] as? Bool == false)
        #expect(result["after_release_status"] as? Int == 200)
        #expect(try await server.metricValue(#"signet_http_connections_rejected_total{reason="server_full"}"#) ?? 0 >= 1)
    }

    // MARK: - Limits and timeouts

    @Test func bodyOverTheLimitGets413() async throws {
        let server = try await startServer(["--max-body-bytes", "65536"])
        let big = try ReviewBodies.write(
            ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], padding: 100_000), in: scratch)
        let (status, _) = try await server.review(big)
        #expect(status == 413)
        // Python sends the whole body without waiting for 100-continue.
        let raw = try await LiveClient.run("raw", server, [
            "--send", "POST /validate HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nContent-Length: 200000\\r\\n\\r\\n",
            "--then-body-bytes", "200000",
        ])
        #expect(raw["status"] as? Int == 413)
        #expect(raw["closed"] as? Bool == true)
        #expect(try await server.curl(["-sf", "\(server.baseURL)/healthz"]).stdout == "ok\n")
    }

    @Test func headerOverTheLimitGets431() async throws {
        let server = try await startServer(["--max-header-bytes", "8192"])
        let result = try await LiveClient.run("raw", server, ["--send", "GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\n", "--repeat-header", "20"])
        #expect(result["status"] as? Int == 431)
        #expect(result["closed"] as? Bool == true)
    }

    @Test func malformedRequestGets400AndClose() async throws {
        let server = try await startServer()
        for request in ["GARBAGE\\r\\n\\r\\n", "GET /healthz HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"] {
            let result = try await LiveClient.run("raw", server, ["--send", request])
            #expect(result["status"] as? Int == 400, "\(request)")
            #expect(result["closed"] as? Bool == true, "\(request)")
        }
    }

    @Test func slowHeaderAndSlowBodyGet408() async throws {
        let server = try await startServer(["--header-timeout", "1s", "--body-timeout", "1s"])
        let header = try await LiveClient.run("slow", server, ["--send", "GET /healthz HTTP/1.1\\r\\nHost: loc"])
        #expect(header["status"] as? Int == 408)
        #expect(header["closed"] as? Bool == true)
        let body = try await LiveClient.run("slow", server, [
            "--send", "POST /validate HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: 100\\r\\n\\r\\n{\\\"partial\\\":",
        ])
        #expect(body["status"] as? Int == 408)
        #expect(body["closed"] as? Bool == true)
        #expect(try await server.metricValue(#"signet_http_timeouts_total{phase="header"}"#) ?? 0 >= 1)
        #expect(try await server.metricValue(#"signet_http_timeouts_total{phase="body"}"#) ?? 0 >= 1)
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        let server = try await startServer(["--idle-timeout", "1s"])
        let result = try await LiveClient.run("idle", server, ["--wait", "10"])
        #expect(result["first_status"] as? Int == 200)
        #expect(result["closed_by_server"] as? Bool == true)
    }

    @Test func badClientsDoNotStallOthers() async throws {
        let server = try await startServer()
        let result = try await LiveClient.run("bad-neighbours", server)
        #expect(result["good_statuses"] as? [Int] == [200, 200, 200])
        #expect(try await server.curl(["-sf", "\(server.baseURL)/healthz"]).stdout == "ok\n")
    }

    // MARK: - Endpoints

    @Test func healthReadinessMetricsAndUnknownPaths() async throws {
        let server = try await startServer()
        #expect(try await server.curl(["-sS", "\(server.baseURL)/readyz"]).stdout == "ok\n")
        let notFound = try await server.curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "\(server.baseURL)/nope"])
        #expect(notFound.stdout == "404")
        let wrongMethod = try await server.curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "\(server.baseURL)/validate"])
        #expect(wrongMethod.stdout == "405")
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        _ = try await server.review(file)
        let metrics = try await server.metrics()
        #expect(metrics.contains(#"signet_http_requests_total{path="/validate",method="POST",code="200"}"#))
        #expect(metrics.contains("signet_admission_reviews_total"))
        #expect(metrics.contains("signet_admission_decision_duration_seconds_bucket"))
    }

    // MARK: - Certificate rotation and shutdown

    @Test func certificateIsReloadedWithoutDroppingConnections() async throws {
        let server = try await startServer(["--cert-reload-interval", "200ms"])
        let before = try await LiveClient.run("tls", server)
        #expect(before["handshake"] as? Bool == true)
        // A keep-alive connection opened before the rotation keeps working after it.
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let marker = scratch.file("rotated")
        let keepAlive = try TestProcess("python3", [
            "-c",
            """
            import http.client, ssl, json, os, time
            ctx = ssl.create_default_context(cafile=\"\(server.pki.caFile)\")
            c = http.client.HTTPSConnection("127.0.0.1", \(server.port), context=ctx, timeout=20)
            body = open(\"\(file)\", "rb").read()
            statuses, ports = [], []
            for i in range(2):
                if i == 1:
                    deadline = time.monotonic() + 20
                    while not os.path.exists(\"\(marker.path)\") and time.monotonic() < deadline:
                        time.sleep(0.05)
                c.request("POST", "/validate", body=body, headers={"Content-Type": "application/json"})
                r = c.getresponse(); r.read(); statuses.append(r.status); ports.append(c.sock.getsockname()[1])
            print(json.dumps({"statuses": statuses, "ports": ports}))
            """,
        ])
        // Rotate: a new certificate from the same CA, written key first as cert-manager would.
        _ = try server.pki.issueServerCertificate(commonName: "localhost", into: server.certificateDirectory.url)
        var after: [String: Any] = [:]
        for _ in 0..<100 {
            after = try await LiveClient.run("tls", server)
            if after["cert_sha256"] as? String != before["cert_sha256"] as? String { break }
            usleep(100_000)
        }
        #expect(after["handshake"] as? Bool == true)
        #expect(after["cert_sha256"] as? String != before["cert_sha256"] as? String)
        try Data("done".utf8).write(to: marker)
        #expect(keepAlive.waitForExit(timeout: .seconds(30)))
        let output = try #require(try JSONSerialization.jsonObject(with: Data(keepAlive.stdout.utf8)) as? [String: Any])
        #expect(output["statuses"] as? [Int] == [200, 200])
        #expect(Set(output["ports"] as? [Int] ?? []).count == 1)
        #expect(try await server.metricValue(#"signet_tls_certificate_reloads_total{result="success"}"#) ?? 0 >= 1)
    }

    @Test func gracefulShutdownFinishesTheRequestInFlight() async throws {
        let server = try await startServer()
        let uid = "5b0c7e1e-2222-4a7b-8f00-0000000000ff"
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], uid: uid, padding: 4000), in: scratch)
        let marker = scratch.file("sent")
        let go = scratch.file("go")
        let client = try TestProcess("python3", [
            LiveClient.script, "inflight", "--port", "\(server.port)", "--ca", server.pki.caFile,
            "--body-file", file, "--marker", marker.path, "--go", go.path,
        ])
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: marker.path) { usleep(25_000) }
        #expect(FileManager.default.fileExists(atPath: marker.path))
        server.process.signal(SIGTERM)
        usleep(300_000)
        #expect(server.process.isRunning, "the server must wait for the request in flight")
        try Data("go".utf8).write(to: go)
        #expect(client.waitForExit(timeout: .seconds(30)))
        let line = try #require(client.stdout.split(separator: "\n").last)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(result["status"] as? Int == 200)
        #expect(result["response_uid"] as? String == uid)
        #expect((result["headers"] as? [String: String])?["connection"] == "close")
        #expect(result["new_connection_refused"] as? Bool == true)
        #expect(server.process.waitForExit(timeout: .seconds(30)))
        #expect(server.process.process.terminationStatus == 0)
    }
}
