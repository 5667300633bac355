import Foundation
import SignetCrypto
import Testing

@testable import SignetRegistry

struct AuthenticationChallengeTests {
    @Test func bearerChallengeWithQuotedParameters() {
        let challenges = AuthenticationChallenge.parse(field:
            #"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:demo/app:pull,push""#)
        #expect(challenges.count == 1)
        #expect(challenges[0].scheme == "bearer")
        #expect(challenges[0].realm == "https://auth.example.com/token")
        #expect(challenges[0].service == "registry.example.com")
        #expect(challenges[0].scope == "repository:demo/app:pull,push")
    }

    @Test func severalChallengesEscapesAndCase() {
        let challenges = AuthenticationChallenge.parse(field:
            #"Basic realm="say \"hi\", please", BEARER Realm=https://a.example/t , Service = svc,error="insufficient_scope""#)
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges[0].realm == #"say "hi", please"#)
        #expect(challenges[1].realm == "https://a.example/t")
        #expect(challenges[1].service == "svc")
        #expect(challenges[1].parameters["error"] == "insufficient_scope")
    }

    @Test func token68IsSkipped() {
        let challenges = AuthenticationChallenge.parse(field: #"Negotiate dG9rZW4=, Basic realm="r""#)
        #expect(challenges.map(\.scheme) == ["negotiate", "basic"])
        #expect(challenges[1].realm == "r")
    }

    @Test func emptyAndGarbageFieldsEnd() {
        #expect(AuthenticationChallenge.parse(field: "").isEmpty)
        #expect(AuthenticationChallenge.parse(field: " , ,").isEmpty)
        #expect(AuthenticationChallenge.parse(field: "Bearer realm=\"unterminated").first?.realm == "unterminated")
    }
}

struct RegistryCredentialStoreTests {
    @Test func dockerConfigWithAuthAndUsernamePassword() throws {
        let json = """
            {"auths":{
              "https://index.docker.io/v1/":{"auth":"\(Data("hub:pw1".utf8).base64EncodedString())"},
              "ghcr.io":{"username":"gh","password":"pw:with:colons"},
              "https://registry.example.com:5000/v2/":{"auth":"\(Data("ex:pw3".utf8).base64EncodedString())"},
              "empty.example.com":{}
            },"credsStore":"desktop"}
            """
        let store = try RegistryCredentialStore(dockerConfigJSON: Array(json.utf8))
        #expect(store.credential(for: "docker.io") == RegistryCredential(username: "hub", password: "pw1"))
        #expect(store.credential(for: "ghcr.io") == RegistryCredential(username: "gh", password: "pw:with:colons"))
        #expect(store.credential(for: "registry.example.com:5000") == RegistryCredential(username: "ex", password: "pw3"))
        #expect(store.credential(for: "empty.example.com") == nil)
        #expect(store.credential(for: "quay.io") == nil)
        #expect(!store.credential(for: "docker.io")!.description.contains("pw1"))
    }

    @Test func kubernetesDockerConfigJSONSecret() throws {
        let config = #"{"auths":{"registry.example.com":{"auth":"\#(Data("k8s:pw".utf8).base64EncodedString())"}}}"#
        let store = try RegistryCredentialStore(kubernetesSecretData: [".dockerconfigjson": Data(config.utf8).base64EncodedString()])
        #expect(store.credential(for: "registry.example.com")?.username == "k8s")

        #expect(throws: RegistryError.self) { try RegistryCredentialStore(kubernetesSecretData: ["other": "e30="]) }
        #expect(throws: RegistryError.self) { try RegistryCredentialStore(kubernetesSecretData: [".dockerconfigjson": "%%%"]) }
        #expect(throws: RegistryError.self) { try RegistryCredentialStore(dockerConfigJSON: Array("{\"auths\":{\"a\":{\"auth\":\"bm9jb2xvbg==\"}}}".utf8)) }
    }

    /// A key with a path serves the repositories under it only, as the kubelet reads pull
    /// secrets: the longest matching path wins, a key without one serves the rest of the
    /// registry, and a server that is not a registry (no repository) gets the host's key only.
    @Test func aKeyWithAPathServesTheRepositoriesUnderIt() throws {
        func auth(_ user: String) -> String { #"{"auth":"\#(Data("\(user):pw".utf8).base64EncodedString())"}"# }
        let json = #"{"auths":{"registry.example.com/team-a":\#(auth("a")),"https://registry.example.com/v2/team-a/deep":\#(auth("deep")),"# +
            #""registry.example.com/team-b":\#(auth("b")),"docker.io/acme":\#(auth("acme")),"registry.example.com:5000":\#(auth("port"))}}"#
        let store = try RegistryCredentialStore(dockerConfigJSON: Array(json.utf8))
        #expect(store.credential(for: "registry.example.com", repository: "team-a/app")?.username == "a")
        #expect(store.credential(for: "registry.example.com", repository: "team-a/deep/app")?.username == "deep")
        #expect(store.credential(for: "registry.example.com", repository: "team-b/app")?.username == "b")
        #expect(store.credential(for: "registry.example.com", repository: "team-c/app") == nil)
        #expect(store.credential(for: "registry.example.com") == nil)
        #expect(store.credential(for: "docker.io", repository: "acme/web")?.username == "acme")
        #expect(store.credential(for: "docker.io", repository: "library/nginx") == nil)
        #expect(store.credential(for: "registry.example.com:5000", repository: "team-a/app")?.username == "port")
        // The kubelet compares paths as text: team-a also serves team-ab.
        #expect(store.credential(for: "registry.example.com", repository: "team-ab/app")?.username == "a")
        #expect(store.registries.contains("registry.example.com/team-a/deep"))
    }

    @Test func mergingPrefersTheLaterStore() {
        let base = RegistryCredentialStore(["docker.io": RegistryCredential(username: "a", password: "1")])
        let override = RegistryCredentialStore(["index.docker.io": RegistryCredential(username: "b", password: "2")])
        #expect(base.merging(override).credential(for: "docker.io")?.username == "b")
    }

    /// The store asked first answers for every repository it has a key serving, even where a
    /// later one has a longer path (a pod's own secret over the cluster's team key); a later
    /// store answers for the rest.
    @Test func theFirstStoreWithAKeyServingTheRepositoryAnswers() {
        let cluster = RegistryCredentialStore([
            "registry.example.com/team-a": RegistryCredential(username: "cluster-team-a", password: "1"),
            "quay.io": RegistryCredential(username: "cluster-quay", password: "2"),
        ])
        let pod = RegistryCredentialStore(["registry.example.com": RegistryCredential(username: "pod", password: "3")])
        let merged = cluster.merging(pod)
        #expect(merged.credential(for: "registry.example.com", repository: "team-a/app")?.username == "pod")
        #expect(merged.credential(for: "quay.io", repository: "team-a/app")?.username == "cluster-quay")
        let scopedPod = RegistryCredentialStore(["registry.example.com/team-b": RegistryCredential(username: "pod-team-b", password: "4")])
        #expect(cluster.merging(scopedPod).credential(for: "registry.example.com", repository: "team-a/app")?.username == "cluster-team-a")
        #expect(cluster.merging(scopedPod).credential(for: "registry.example.com", repository: "team-b/app")?.username == "pod-team-b")
        #expect(merged.registries == ["quay.io", "registry.example.com", "registry.example.com/team-a"])
    }
}

struct RetryAfterTests {
    @Test func secondsAndDates() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(RetryAfter.delay("120", now: now) == .seconds(120))
        #expect(RetryAfter.delay(" 0 ", now: now) == .seconds(0))
        let later = Date(timeIntervalSince1970: 1_000_030)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        #expect(RetryAfter.delay(formatter.string(from: later), now: now) == .seconds(30))
        #expect(RetryAfter.delay("Thu, 01 Jan 1970 00:00:00 GMT", now: now) == .zero)
        #expect(RetryAfter.delay("soon", now: now) == nil)
        #expect(RetryAfter.delay("-5", now: now) == nil)
    }

    @Test func backoffGrowsAndIsCapped() {
        let policy = RetryPolicy(maximumAttempts: 5, initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(300))
        #expect(policy.backoff(forRetry: 1) >= .milliseconds(100) && policy.backoff(forRetry: 1) < .milliseconds(121))
        #expect(policy.backoff(forRetry: 2) >= .milliseconds(200))
        #expect(policy.backoff(forRetry: 6) < .milliseconds(361))
        #expect(RetryPolicy.isRetryable(status: 503) && !RetryPolicy.isRetryable(status: 500))
    }
}

struct DigestTests {
    @Test func knownVectors() {
        // FIPS 180-4 examples ("abc").
        #expect(DigestAlgorithm.sha256.hexHash(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(DigestAlgorithm.sha512.hexHash(Array("abc".utf8)).hasPrefix("ddaf35a193617aba"))
        #expect(DigestAlgorithm.sha384.hash(Array("abc".utf8)).count == 48)
        #expect(Hex.decode("00ffA0") == [0, 255, 160])
        #expect(Hex.decode("0g") == nil)
    }

    @Test func manifestsParseByMediaTypeOrShape() throws {
        let index = Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        let (parsed, type) = try Manifest.parse(index, mediaType: nil)
        #expect(type == MediaType.ociIndex)
        if case .index = parsed {} else { Issue.record("expected an index") }
        let docker = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:\#(String(repeating: "0", count: 64))","size":1},"layers":[]}"#.utf8)
        let (_, dockerType) = try Manifest.parse(docker, mediaType: "text/plain")
        #expect(dockerType == MediaType.dockerManifest)
    }
}
