import Foundation
import SignetHTTPClient
import SignetTestSupport
import Testing

@testable import SignetRegistry

/// A registry served over TLS with a certificate from a test CA: trusted through the client's
/// custom CA bundle, refused without it.
@Suite
struct RegistryTLSTests {
    @Test func customCABundleIsTrustedAndRequired() async throws {
        let pkiDirectory = TemporaryDirectory(prefix: "signet-registry-pki")
        let pki = try RegistryTestPKI(in: pkiDirectory)
        let registry = try await RegistryFixture.start(tls: .init(certificatePath: pki.serverCertificatePath, keyPath: pki.serverKeyPath))
        let client = try RegistryClient(configuration: RegistryClientConfiguration(caBundlePath: pki.caCertificatePath))
        defer { client.shutdown() }
        let reference = try TestImages.reference("\(registry.host)/demo/tls:v1")
        let pushed = try await TestImages.pushImage(client: client, reference: reference)
        let resolved = try await client.resolve(reference, deadline: TestImages.deadline())
        #expect(resolved.digest == pushed.digest)

        // HTTP/2 when the registry offers it over TLS (ALPN).
        let probe = HTTPRequest(
            method: .get, url: "https://\(registry.host)/v2/", maximumResponseBytes: 4096, deadline: TestImages.deadline())
        let response = try await client.transport(probe, target: .init(reference), operation: "probe")
        #expect(response.status == 200)
        #expect(response.httpVersion == 2)
        // The connection (and its TLS session) is reused by the next exchange.
        let again = try await client.transport(probe, target: .init(reference), operation: "probe")
        #expect(again.newConnections == 0)

        let untrusting = try RegistryClient()
        defer { untrusting.shutdown() }
        let error = await #expect(throws: RegistryError.self) {
            try await untrusting.resolve(reference, deadline: TestImages.deadline())
        }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.description.contains(registry.host) == true)
    }

    /// A registry (or its token service) served over HTTPS that redirects to plain HTTP is not
    /// followed there: such a redirect aimed signet at `http://169.254.169.254/...` or a
    /// plain-HTTP service beside it, and a token read there went back to the registry. HTTPS
    /// redirects are followed as before.
    @Test func anHTTPSRegistryIsNeverRedirectedToPlainHTTP() async throws {
        typealias Response = RegistryStubServer.Response
        let pkiDirectory = TemporaryDirectory(prefix: "signet-registry-pki")
        let pki = try RegistryTestPKI(in: pkiDirectory)
        let tls = (certificatePath: pki.serverCertificatePath, keyPath: pki.serverKeyPath)
        // A plain-HTTP service beside the registry, holding something token-shaped.
        let inside = try await RegistryStubServer.start(routes: [
            "GET /leak": [Response(headers: ["Content-Type": "application/json"], body: Array(#"{"token":"S3CRET"}"#.utf8))],
        ])
        let toInside = Response(status: 302, headers: ["Location": "http://\(inside.host)/leak"])
        let tokenService = try await RegistryStubServer.start(
            routes: ["GET /token?scope=repository:team/app:pull&service=stub": [toInside], "GET /token?service=stub&scope=repository:team/app:pull": [toInside]],
            tls: tls)
        let challenge = Response(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="https://\#(tokenService.host)/token",service="stub""#])
        let registry = try await RegistryStubServer.start(routes: [
            "GET /v2/team/app/manifests/plain": [toInside], "HEAD /v2/team/app/manifests/plain": [toInside],
            "GET /v2/team/app/manifests/token": [challenge], "HEAD /v2/team/app/manifests/token": [challenge],
        ], tls: tls)
        defer {
            registry.stop()
            tokenService.stop()
            inside.stop()
        }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(caBundlePath: pki.caCertificatePath))
        defer { client.shutdown() }
        for tag in ["plain", "token"] {
            let reference = try TestImages.reference("\(registry.host)/team/app:\(tag)")
            await #expect(throws: RegistryError.self, "\(tag)") { try await client.resolve(reference, deadline: TestImages.deadline()) }
        }
        #expect(inside.requests.isEmpty, "followed to plain HTTP: \(inside.requests)")
        #expect(tokenService.requests.contains { $0.hasPrefix("GET /token") }, "the token service was asked: \(tokenService.requests)")
        #expect(registry.requests.contains { $0.hasSuffix("/v2/team/app/manifests/plain") }, "\(registry.requests)")
    }

    @Test func unreadableCABundleIsAConfigurationError() {
        let error = #expect(throws: RegistryError.self) {
            try RegistryClient(configuration: RegistryClientConfiguration(caBundlePath: "/nonexistent/ca.pem"))
        }
        #expect(error?.kind == .invalidConfiguration)
    }
}
