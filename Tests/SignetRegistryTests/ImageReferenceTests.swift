import Testing
@testable import SignetRegistry

private let sha256Hex = String(repeating: "a1", count: 32)
private let sha512Hex = String(repeating: "0f", count: 64)

@Suite("Image references (distribution reference grammar)")
struct ImageReferenceTests {
    struct Valid: Sendable, CustomStringConvertible {
        var input: String
        var registry: String
        var repository: String
        var tag: String?
        var digest: String?
        var normalised: String
        var description: String { input }
    }

    static let valid: [Valid] = [
        Valid(input: "nginx", registry: "docker.io", repository: "library/nginx", normalised: "docker.io/library/nginx:latest"),
        Valid(input: "nginx:1.25", registry: "docker.io", repository: "library/nginx", tag: "1.25", normalised: "docker.io/library/nginx:1.25"),
        Valid(input: "user/app", registry: "docker.io", repository: "user/app", normalised: "docker.io/user/app:latest"),
        Valid(input: "docker.io/nginx", registry: "docker.io", repository: "library/nginx", normalised: "docker.io/library/nginx:latest"),
        Valid(input: "index.docker.io/library/nginx:1", registry: "docker.io", repository: "library/nginx", tag: "1", normalised: "docker.io/library/nginx:1"),
        Valid(input: "localhost/app", registry: "localhost", repository: "app", normalised: "localhost/app:latest"),
        Valid(input: "localhost:5000/app", registry: "localhost:5000", repository: "app", normalised: "localhost:5000/app:latest"),
        Valid(input: "127.0.0.1:5000/team/app:v2", registry: "127.0.0.1:5000", repository: "team/app", tag: "v2", normalised: "127.0.0.1:5000/team/app:v2"),
        Valid(input: "[::1]:5000/a", registry: "[::1]:5000", repository: "a", normalised: "[::1]:5000/a:latest"),
        Valid(input: "[2001:db8::1]/a/b", registry: "[2001:db8::1]", repository: "a/b", normalised: "[2001:db8::1]/a/b:latest"),
        // One identity per registry: hosts lowercased, the default port dropped, Docker Hub aliases made one.
        Valid(input: "Registry.Example.COM/app", registry: "registry.example.com", repository: "app", normalised: "registry.example.com/app:latest"),
        Valid(input: "GHCR.IO/acme/payments/api:1", registry: "ghcr.io", repository: "acme/payments/api", tag: "1", normalised: "ghcr.io/acme/payments/api:1"),
        Valid(input: "ghcr.io:443/acme/payments/api:1", registry: "ghcr.io", repository: "acme/payments/api", tag: "1", normalised: "ghcr.io/acme/payments/api:1"),
        Valid(input: "registry-1.docker.io/nginx:1.25", registry: "docker.io", repository: "library/nginx", tag: "1.25", normalised: "docker.io/library/nginx:1.25"),
        Valid(input: "Index.Docker.IO/bitnami/redis", registry: "docker.io", repository: "bitnami/redis", normalised: "docker.io/bitnami/redis:latest"),
        Valid(input: "docker.io:443/library/nginx", registry: "docker.io", repository: "library/nginx", normalised: "docker.io/library/nginx:latest"),
        Valid(input: "ghcr.io:0443/acme/api", registry: "ghcr.io", repository: "acme/api", normalised: "ghcr.io/acme/api:latest"),
        Valid(input: "localhost:05000/app", registry: "localhost:5000", repository: "app", normalised: "localhost:5000/app:latest"),
        Valid(input: "[::1]:443/app", registry: "[::1]", repository: "app", normalised: "[::1]/app:latest"),
        Valid(input: "registry.example.com:5000/app", registry: "registry.example.com:5000", repository: "app", normalised: "registry.example.com:5000/app:latest"),
        Valid(input: "ghcr.io/org/app:v1@sha256:\(sha256Hex)", registry: "ghcr.io", repository: "org/app", tag: "v1", digest: "sha256:\(sha256Hex)",
              normalised: "ghcr.io/org/app:v1@sha256:\(sha256Hex)"),
        Valid(input: "ghcr.io/org/app@sha256:\(sha256Hex)", registry: "ghcr.io", repository: "org/app", digest: "sha256:\(sha256Hex)",
              normalised: "ghcr.io/org/app@sha256:\(sha256Hex)"),
        Valid(input: "nginx@sha512:\(sha512Hex)", registry: "docker.io", repository: "library/nginx", digest: "sha512:\(sha512Hex)",
              normalised: "docker.io/library/nginx@sha512:\(sha512Hex)"),
        Valid(input: "a/b@multihash+base58:\(String(repeating: "ab", count: 16))", registry: "docker.io", repository: "a/b",
              digest: "multihash+base58:\(String(repeating: "ab", count: 16))", normalised: "docker.io/a/b@multihash+base58:\(String(repeating: "ab", count: 16))"),
        Valid(input: "registry.k8s.io/kube-apiserver:v1.30.0", registry: "registry.k8s.io", repository: "kube-apiserver", tag: "v1.30.0",
              normalised: "registry.k8s.io/kube-apiserver:v1.30.0"),
        Valid(input: "quay.io/a__b/c.d_e---f:_tag-1.X", registry: "quay.io", repository: "a__b/c.d_e---f", tag: "_tag-1.X",
              normalised: "quay.io/a__b/c.d_e---f:_tag-1.X"),
        Valid(input: "my-registry.example:443/x/y/z", registry: "my-registry.example", repository: "x/y/z", normalised: "my-registry.example/x/y/z:latest"),
        Valid(input: "ghcr.io", registry: "docker.io", repository: "library/ghcr.io", normalised: "docker.io/library/ghcr.io:latest"),
    ]

    @Test("parses and normalises", arguments: valid)
    func parsesValid(_ case_: Valid) throws {
        let reference = try ImageReference(parsing: case_.input)
        #expect(reference.registry == case_.registry)
        #expect(reference.repository == case_.repository)
        #expect(reference.tag == case_.tag)
        #expect(reference.digest?.description == case_.digest)
        #expect(reference.description == case_.normalised)
        #expect(reference.name == "\(case_.registry)/\(case_.repository)")
        // The normalised form parses back to the same name and digest.
        let again = try ImageReference(parsing: reference.description)
        #expect(again.name == reference.name)
        #expect(again.digest == reference.digest)
    }

    struct Invalid: Sendable, CustomStringConvertible {
        var input: String
        var kind: ImageReferenceError.Kind
        var description: String { input.isEmpty ? "<empty>" : String(input.prefix(60)) }
    }

    static let invalid: [Invalid] = [
        Invalid(input: "", kind: .empty),
        Invalid(input: "Nginx", kind: .uppercaseRepository),
        Invalid(input: "docker.io/Library/nginx", kind: .uppercaseRepository),
        Invalid(input: "nginx:", kind: .emptyTag),
        Invalid(input: ":tag", kind: .invalidRepository),
        Invalid(input: "nginx@sha256:", kind: .emptyDigest),
        Invalid(input: "nginx@", kind: .emptyDigest),
        Invalid(input: "@sha256:\(sha256Hex)", kind: .invalidRepository),
        Invalid(input: "nginx@sha256:abc", kind: .invalidDigest),
        Invalid(input: "nginx@sha256:\(sha256Hex)00", kind: .invalidDigest),
        Invalid(input: "nginx@sha256:\(sha256Hex.uppercased())", kind: .invalidDigest),
        Invalid(input: "nginx@sha512:\(sha256Hex)", kind: .invalidDigest),
        Invalid(input: "nginx@sha256\(sha256Hex)", kind: .invalidDigest),
        Invalid(input: "nginx@1sha:\(sha256Hex)", kind: .invalidDigest),
        Invalid(input: "nginx@foo:abcd", kind: .invalidDigest),
        Invalid(input: "nginx@foo:\(String(repeating: "z", count: 40))", kind: .invalidDigest),
        Invalid(input: "nginx :1", kind: .invalidCharacters),
        Invalid(input: " nginx", kind: .invalidCharacters),
        Invalid(input: "nginx\t", kind: .invalidCharacters),
        Invalid(input: "ngïnx", kind: .invalidCharacters),
        Invalid(input: "a//b", kind: .invalidRepository),
        Invalid(input: "ghcr.io//b", kind: .invalidRepository),
        Invalid(input: "ghcr.io/org/", kind: .invalidRepository),
        Invalid(input: "ghcr.io/", kind: .invalidRepository),
        Invalid(input: "/app", kind: .invalidRepository),
        Invalid(input: "-app", kind: .invalidRepository),
        Invalid(input: "app-", kind: .invalidRepository),
        Invalid(input: "a..b", kind: .invalidRepository),
        Invalid(input: "a___b", kind: .invalidRepository),
        Invalid(input: "a._b", kind: .invalidRepository),
        Invalid(input: "a/b!c", kind: .invalidRepository),
        Invalid(input: "nginx:-1", kind: .invalidTag),
        Invalid(input: "nginx:.1", kind: .invalidTag),
        Invalid(input: "nginx:a+b", kind: .invalidTag),
        Invalid(input: "nginx:" + String(repeating: "t", count: 129), kind: .invalidTag),
        Invalid(input: "-ghcr.io/app", kind: .invalidRegistry),
        Invalid(input: "ghcr-.io/app", kind: .invalidRegistry),
        Invalid(input: "ghcr..io/app", kind: .invalidRegistry),
        Invalid(input: "localhost:/app", kind: .invalidRegistry),
        Invalid(input: "localhost:50a/app", kind: .invalidRegistry),
        Invalid(input: "[::1/app", kind: .invalidRegistry),
        Invalid(input: "[]:5000/app", kind: .invalidRegistry),
        // A host only because of its capitals: lowercased it reads as a Docker Hub namespace
        // (found by the imageReference fuzz target: `liIntbrary/nginx` printed as
        // `liintbrary/nginx`, which is docker.io/liintbrary/nginx).
        Invalid(input: "liIntbrary/nginx:latest", kind: .invalidRegistry),
        Invalid(input: "MyRegistry/team/app", kind: .invalidRegistry),
        Invalid(input: "[::g]/app", kind: .invalidRegistry),
        Invalid(input: "foo_bar.com:8080/app", kind: .invalidRegistry),
        Invalid(input: sha256Hex, kind: .invalidRepository),
        // An image ID, whole or cut short, with or without a digest: the runtime runs it from the
        // node's store (it would otherwise read as the Docker Hub image library/sha256).
        Invalid(input: "sha256:\(sha256Hex)", kind: .invalidRepository),
        Invalid(input: "sha256:abab12", kind: .invalidRepository),
        Invalid(input: "sha512:abab12", kind: .invalidRepository),
        Invalid(input: "sha384:abab12", kind: .invalidRepository),
        Invalid(input: "sha256:abab12@sha256:\(sha256Hex)", kind: .invalidRepository),
        Invalid(input: "ghcr.io/" + String(repeating: "a", count: 250), kind: .tooLong),
        Invalid(input: String(repeating: "a/", count: 1000) + "a", kind: .tooLong),
    ]

    @Test("refuses invalid references", arguments: invalid)
    func refusesInvalid(_ case_: Invalid) {
        #expect {
            _ = try ImageReference(parsing: case_.input)
        } throws: { error in
            guard let error = error as? ImageReferenceError else { return false }
            return error.kind == case_.kind && error.description.hasPrefix("invalid image reference \"")
        }
    }

    @Test func longestNameIsAccepted() throws {
        // "ghcr.io/" is 8 characters; 247 more make 255.
        let repository = String(repeating: "a", count: 247)
        let reference = try ImageReference(parsing: "ghcr.io/\(repository)")
        #expect(reference.name.utf8.count == 255)
        // Docker Hub's implicit "docker.io/library/" prefix counts too.
        #expect(throws: ImageReferenceError.self) { try ImageReference(parsing: String(repeating: "a", count: 240)) }
    }

    @Test func errorMessageNamesTheInput() {
        do {
            _ = try ImageReference(parsing: "Nginx")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == #"invalid image reference "Nginx": repository name must be lowercase"#)
        }
    }

    @Test func effectiveTagAndAPIHost() throws {
        let bare = try ImageReference(parsing: "nginx")
        #expect(bare.tag == nil)
        #expect(bare.effectiveTag == "latest")
        #expect(bare.apiHost == "registry-1.docker.io")
        let pinned = try ImageReference(parsing: "ghcr.io/a/b@sha256:\(sha256Hex)")
        #expect(pinned.effectiveTag == nil)
        #expect(pinned.apiHost == "ghcr.io")
        let local = try ImageReference(parsing: "localhost:5000/app:v1")
        #expect(local.apiHost == "localhost:5000")
    }

    @Test func withDigestKeepsTag() throws {
        let digest = try ImageDigest(parsing: "sha256:\(sha256Hex)")
        let reference = try ImageReference(parsing: "nginx:1.25").withDigest(digest)
        #expect(reference.description == "docker.io/library/nginx:1.25@sha256:\(sha256Hex)")
        #expect(reference.digest == digest)
        let bare = try ImageReference(parsing: "nginx").withDigest(digest)
        #expect(bare.description == "docker.io/library/nginx@sha256:\(sha256Hex)")
    }

    @Test func digestForms() throws {
        let digest = try ImageDigest(parsing: "sha256:\(sha256Hex)")
        #expect(digest.algorithm == "sha256")
        #expect(digest.encoded == sha256Hex)
        #expect(digest.description == "sha256:\(sha256Hex)")
        #expect(digest.tagForm == "sha256-\(sha256Hex)")
        #expect(throws: ImageReferenceError.self) { try ImageDigest(parsing: "") }
        #expect(throws: ImageReferenceError.self) { try ImageDigest(parsing: "sha256") }
        #expect(throws: ImageReferenceError.self) { try ImageDigest(parsing: ":\(sha256Hex)") }
    }

    @Test func equalReferencesHashEqually() throws {
        let a = try ImageReference(parsing: "nginx:1")
        let b = try ImageReference(parsing: "docker.io/library/nginx:1")
        let c = try ImageReference(parsing: "index.docker.io/library/nginx:1")
        #expect(Set([a, b, c]).count == 1)
    }
}
