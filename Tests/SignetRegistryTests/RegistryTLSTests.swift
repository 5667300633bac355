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

    @Test func unreadableCABundleIsAConfigurationError() {
        let error = #expect(throws: RegistryError.self) {
            try RegistryClient(configuration: RegistryClientConfiguration(caBundlePath: "/nonexistent/ca.pem"))
        }
        #expect(error?.kind == .invalidConfiguration)
    }
}
