import SignetRegistry
import Testing
@testable import SignetPolicy

@Suite("Image globs")
struct ImageGlobTests {
    private func matches(_ glob: String, _ image: String) throws -> Bool {
        try ImageGlob(glob).matches(ImageReference(parsing: image))
    }

    @Test func singleStarStaysInOneSegment() throws {
        #expect(try matches("ghcr.io/org/*", "ghcr.io/org/app"))
        #expect(try matches("ghcr.io/org/*", "ghcr.io/org/app:v1"))
        #expect(try !matches("ghcr.io/org/*", "ghcr.io/org/team/app"))
        #expect(try !matches("ghcr.io/*", "ghcr.io/org/app"))
        // A single trailing wildcard also matches nothing at all.
        #expect(try ImageGlob("ghcr.io/org/*").matches(text: "ghcr.io/org/"))
        #expect(try ImageGlob("ghcr.io/org/**").matches(text: "ghcr.io/org/"))
        #expect(try !ImageGlob("ghcr.io/org/**").matches(text: "ghcr.io/org"))
    }

    @Test func doubleStarCrossesSegments() throws {
        #expect(try matches("ghcr.io/**", "ghcr.io/org/team/app:v1"))
        #expect(try matches("registry.k8s.io/**", "registry.k8s.io/pause:3.9"))
        #expect(try matches("ghcr.io/org/**/app", "ghcr.io/org/a/b/app"))
        #expect(try !matches("ghcr.io/**", "quay.io/ghcr.io/app"))
        #expect(try matches("**", "quay.io/x/y:1"))
        #expect(try matches("**/app", "localhost:5000/team/app"))
    }

    @Test func questionMarkIsOneCharacter() throws {
        #expect(try matches("ghcr.io/org/app?", "ghcr.io/org/app1"))
        #expect(try !matches("ghcr.io/org/app?", "ghcr.io/org/app12"))
        #expect(try !matches("ghcr.io/org?app", "ghcr.io/org/app"))
    }

    @Test func dockerHubNormalisation() throws {
        #expect(try ImageGlob("nginx").normalised == "docker.io/library/nginx")
        #expect(try ImageGlob("nginx*").normalised == "docker.io/library/nginx*")
        #expect(try ImageGlob("user/app*").normalised == "docker.io/user/app*")
        #expect(try ImageGlob("docker.io/nginx").normalised == "docker.io/library/nginx")
        #expect(try ImageGlob("index.docker.io/library/*").normalised == "docker.io/library/*")
        #expect(try ImageGlob("docker.io/**").normalised == "docker.io/**")
        #expect(try ImageGlob("*.example.com/**").normalised == "*.example.com/**")
        #expect(try ImageGlob("localhost:5000/*").normalised == "localhost:5000/*")
        #expect(try matches("nginx", "nginx:1.25"))
        #expect(try matches("nginx", "docker.io/library/nginx"))
        #expect(try matches("nginx*", "nginx-unprivileged:1"))
        #expect(try !matches("nginx", "user/nginx"))
        #expect(try matches("user/*", "docker.io/user/app"))
        #expect(try matches("*.example.com/**", "eu.example.com/a/b"))
    }

    @Test func matchesFullReferenceWithTagOrDigest() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        #expect(try matches("nginx:1.*", "nginx:1.25"))
        #expect(try !matches("nginx:1.*", "nginx:2.0"))
        #expect(try matches("nginx:latest", "nginx"))
        #expect(try matches("ghcr.io/org/app@sha256:*", "ghcr.io/org/app@\(digest)"))
        #expect(try matches("ghcr.io/org/app", "ghcr.io/org/app@\(digest)"))
        #expect(try !matches("ghcr.io/org/app", "ghcr.io/org/application"))
    }

    @Test(arguments: ["", " ", "ghcr.io/a b", "ghcr.io/***", "a//b", "ghcr.io/\t"])
    func invalidGlobs(_ glob: String) {
        #expect(throws: ImageGlobError.self) { try ImageGlob(glob) }
    }

    /// A backtracking matcher would take exponential time here; the time limit turns a hang into a failure.
    @Test(.timeLimit(.minutes(1))) func pathologicalPatternStaysLinear() throws {
        let glob = try ImageGlob("ghcr.io/" + String(repeating: "*a", count: 30) + "b")
        let text = "ghcr.io/" + String(repeating: "a", count: 200)
        #expect(!glob.matches(text: text))
    }
}
