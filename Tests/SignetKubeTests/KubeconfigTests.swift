import Foundation
import SignetKube
import SignetTestSupport
import Testing
@testable import SignetCLI

/// `signet scan --kubeconfig`: the current context's server, CA, token or client certificate are
/// read (a client certificate authenticates to an API server double that checks it); a user with
/// an exec plugin, or a certificate without its key, is refused by name.
struct KubeconfigTests {
    static func write(_ user: String, context: String = "e2e", server: String = "https://127.0.0.1:6443") throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory(prefix: "signet-kubeconfig")
        let ca = Data("-----BEGIN CERTIFICATE-----\n".utf8).base64EncodedString()
        let file = try directory.write("config", """
            apiVersion: v1
            kind: Config
            current-context: \(context)
            clusters:
              - name: lab
                cluster: {server: "\(server)", certificate-authority-data: "\(ca)"}
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

    /// A token (or any credential) never goes over plain HTTP.
    @Test func aPlainHTTPServerIsRefused() throws {
        let (directory, path) = try Self.write("{token: s3cret}", server: "http://apiserver.example:8080")
        _ = directory
        let error = #expect(throws: Kubeconfig.Problem.self) { try Kubeconfig.configuration(path: path) }
        #expect(error?.description.contains("the cluster's server http://apiserver.example:8080 is plain HTTP") == true, "\(String(describing: error))")
    }

    @Test func tokenFileIsRelativeToTheKubeconfig() throws {
        let (directory, path) = try Self.write("{tokenFile: token}")
        #expect(try Kubeconfig.configuration(path: path).tokenFile == directory.file("token").path)
    }

    /// A kubeconfig whose anchors and aliases nest is refused before it is read into values.
    @Test(.timeLimit(.minutes(5))) func nestedAliasesAreRefused() throws {
        let directory = TemporaryDirectory(prefix: "signet-kubeconfig")
        let file = try directory.write("config", "apiVersion: v1\nkind: Config\npreferences:\n\(YAMLAliasBomb.mapping(depth: 10, indent: 2))\n")
        do {
            _ = try Kubeconfig.configuration(path: file.path)
            Issue.record("a kubeconfig of nested aliases was read")
        } catch {
            #expect("\(error)".contains("stands for more than 1000000 nodes"), "\(error)")
        }
    }

    @Test func unsupportedCredentialsAndMissingContextsAreNamed() throws {
        let (exec, execPath) = try Self.write("{exec: {apiVersion: client.authentication.k8s.io/v1, command: /usr/bin/get-token}}")
        _ = exec
        #expect(throws: Kubeconfig.Problem.self) { try Kubeconfig.configuration(path: execPath) }
        do {
            _ = try Kubeconfig.configuration(path: execPath)
        } catch {
            #expect("\(error)".contains("user \"admin\" gets its credentials from an exec plugin, which signet scan does not run"))
        }
        let (half, halfPath) = try Self.write("{client-certificate-data: AAAA}")
        _ = half
        do {
            _ = try Kubeconfig.configuration(path: halfPath)
            Issue.record("a client certificate without its key was accepted")
        } catch {
            #expect("\(error)".contains("has a client certificate but no client-key or client-key-data"))
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

    /// A kubeconfig whose user is a client certificate and key, inline or as files.
    static func writeCertificateUser(server: KubernetesAPIServerDouble, inline: Bool) throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory(prefix: "signet-kubeconfig")
        func data(_ file: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString() }
        let user = inline
            ? "{client-certificate-data: \(try data(server.pki.clientCertFile)), client-key-data: \(try data(server.pki.clientKeyFile))}"
            : "{client-certificate: \(server.pki.clientCertFile), client-key: \(server.pki.clientKeyFile)}"
        let file = try directory.write("config", """
            apiVersion: v1
            kind: Config
            current-context: lab
            clusters:
              - name: lab
                cluster: {server: "\(server.url)", certificate-authority-data: "\(try data(server.pki.caFile))"}
            users:
              - name: admin
                user: \(user)
            contexts:
              - name: lab
                context: {cluster: lab, user: admin}
            """)
        return (directory, file.path)
    }

    @Test func aClientCertificateAuthenticatesToTheAPIServer() async throws {
        let server = try await KubernetesAPIServerDouble.start(acceptClientCertificates: true)
        defer { server.stop() }
        _ = try server.apply("pods", ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "web", "namespace": "shop"]])
        for inline in [true, false] {
            let (directory, path) = try Self.writeCertificateUser(server: server, inline: inline)
            _ = directory
            let configuration = try Kubeconfig.configuration(path: path)
            #expect(configuration.bearerToken == nil && configuration.tokenFile == nil)
            let key = try #require(configuration.clientKeyFile)
            if inline {
                // The key is held in memory, never written to a disk: a file in a temporary
                // directory outlived the scan, for whoever next shared the directory and the user.
                #expect(key.hasPrefix("/proc/self/fd/"), "\(key)")
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: key)
                #expect(target.hasPrefix("/memfd:signet-kubeconfig-client-key-data"), "\(target)")
                #expect(FileManager.default.contents(atPath: key) == FileManager.default.contents(atPath: server.pki.clientKeyFile))
            }
            let pods = try await KubernetesClient(configuration: configuration).list(.pods)
            #expect(pods.items.map(\.name) == ["web"], "inline: \(inline)")
        }
        // The same server without the certificate (and no token): refused, so the certificate is
        // what authenticated.
        let (directory, path) = try Self.writeCertificateUser(server: server, inline: true)
        _ = directory
        var anonymous = try Kubeconfig.configuration(path: path)
        anonymous.clientCertificateFile = nil
        anonymous.clientKeyFile = nil
        await #expect(throws: KubernetesError.self) { try await KubernetesClient(configuration: anonymous).list(.pods) }
    }
}
