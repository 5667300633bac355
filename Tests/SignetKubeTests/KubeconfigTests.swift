import Foundation
import SignetKube
import SignetTestSupport
import Testing
@testable import SignetCLI

/// `signet scan --kubeconfig`: the current context's server, CA and token are read; a user
/// with only a client certificate or an exec plugin is refused by name.
struct KubeconfigTests {
    static func write(_ user: String, context: String = "e2e") throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory(prefix: "signet-kubeconfig")
        let ca = Data("-----BEGIN CERTIFICATE-----\n".utf8).base64EncodedString()
        let file = try directory.write("config", """
            apiVersion: v1
            kind: Config
            current-context: \(context)
            clusters:
              - name: lab
                cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "\(ca)"}
            users:
              - name: admin
                user: \(user)
            contexts:
              - name: e2e
                context: {cluster: lab, user: admin, namespace: shop}
            """)
        return (directory, file.path)
    }

    @Test func tokenAndInlineCAOfTheCurrentContext() throws {
        let (directory, path) = try Self.write("{token: s3cret}")
        _ = directory
        let configuration = try Kubeconfig.configuration(path: path)
        #expect(configuration.serverURL == "https://127.0.0.1:6443")
        #expect(configuration.bearerToken == "s3cret" && configuration.tokenFile == nil)
        #expect(configuration.namespace == "shop")
        let ca = try #require(configuration.caFile)
        #expect(try String(contentsOfFile: ca, encoding: .utf8) == "-----BEGIN CERTIFICATE-----\n")
        try? FileManager.default.removeItem(atPath: ca)
    }

    @Test func tokenFileIsRelativeToTheKubeconfig() throws {
        let (directory, path) = try Self.write("{tokenFile: token}")
        #expect(try Kubeconfig.configuration(path: path).tokenFile == directory.file("token").path)
    }

    @Test func unsupportedCredentialsAndMissingContextsAreNamed() throws {
        let (certificate, certificatePath) = try Self.write("{client-certificate-data: AAAA, client-key-data: AAAA}")
        _ = certificate
        #expect(throws: Kubeconfig.Problem.self) { try Kubeconfig.configuration(path: certificatePath) }
        do {
            _ = try Kubeconfig.configuration(path: certificatePath)
        } catch {
            #expect("\(error)".contains("client-certificate-data is not supported"))
        }
        let (other, otherPath) = try Self.write("{token: t}", context: "prod")
        _ = other
        do {
            _ = try Kubeconfig.configuration(path: otherPath)
            Issue.record("a missing context was accepted")
        } catch {
            #expect("\(error)".contains("no context \"prod\""))
        }
    }
}
