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

    /// Globs match the repository; a tag is a separate constraint. A reference by digest alone
    /// has no tag to check: a policy covers it (the stricter policy applies), an exception or a
    /// bypass does not exempt it.
    @Test func tagsConstrainTheRepositoryGlobAndDigestsNeverEscape() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        #expect(try matches("nginx:1.*", "nginx:1.25"))
        #expect(try !matches("nginx:1.*", "nginx:2.0"))
        #expect(try matches("nginx:latest", "nginx"))
        #expect(try matches("ghcr.io/acme/web:prod-*", "ghcr.io/acme/web@\(digest)"), "a strict tag policy is not skipped by a digest")
        #expect(try matches("ghcr.io/acme/web:prod-*", "ghcr.io/acme/web:prod-1@\(digest)"))
        #expect(try !matches("ghcr.io/acme/web:prod-*", "ghcr.io/acme/web:dev-1@\(digest)"))
        #expect(try matches("ghcr.io/org/app", "ghcr.io/org/app@\(digest)"))
        #expect(try !matches("ghcr.io/org/app", "ghcr.io/org/application"))

        let written = try ImageGlob("ghcr.io/acme/web:prod-*")
        let explicit = try ImageGlob("ghcr.io/acme/web", tags: ["prod-*"])
        #expect(written.tagWrittenInGlob && !explicit.tagWrittenInGlob)
        #expect(written.normalised == explicit.normalised)
        for (glob, image, exempts) in [
            (explicit, "ghcr.io/acme/web:prod-1", true), (explicit, "ghcr.io/acme/web:dev-1", false),
            (explicit, "ghcr.io/acme/web@\(digest)", false), (try ImageGlob("ghcr.io/acme/web"), "ghcr.io/acme/web@\(digest)", true),
            // The digest is what runs: an allowed tag beside it vouches for nothing.
            (explicit, "ghcr.io/acme/web:prod-1@\(digest)", false), (try ImageGlob("ghcr.io/acme/web"), "ghcr.io/acme/web:prod-1@\(digest)", true),
        ] {
            #expect(glob.exempts(try ImageReference(parsing: image)) == exempts, "\(glob) exempts \(image)")
        }
        // A scan pins a running container's tag to the digest the node pulled it as: there the tag decides.
        let running = ImageMatchSubject(try ImageReference(parsing: "ghcr.io/acme/web:prod-1@\(digest)"))
        #expect(explicit.exempts(running, digestFromTheNode: true))
        #expect(!explicit.exempts(running, digestFromTheNode: false))
        #expect(!explicit.exempts(ImageMatchSubject(try ImageReference(parsing: "ghcr.io/acme/web:dev-1@\(digest)")), digestFromTheNode: true))
        #expect(throws: ImageGlobError.self) { try ImageGlob("ghcr.io/org/app@sha256:*") }
        #expect(throws: ImageGlobError.self) { try ImageGlob("ghcr.io/org/app:v1", tags: ["v2"]) }
        #expect(throws: ImageGlobError.self) { try ImageGlob("ghcr.io/org/app", tags: []) }
        #expect(throws: ImageGlobError.self) { try ImageGlob("ghcr.io/org/app", tags: ["v 1"]) }
    }

    /// Every spelling containerd pulls the same image by meets the same globs.
    @Test(arguments: [
        ("ghcr.io/acme/payments/**", "GHCR.IO/acme/payments/api:1", true),
        ("ghcr.io/acme/payments/**", "ghcr.io:443/acme/payments/api:1", true),
        ("ghcr.io/acme/payments/**", "ghcr.io:0443/acme/payments/api:1", true),
        ("GHCR.io/acme/payments/**", "ghcr.io/acme/payments/api:1", true),
        ("docker.io/**", "registry-1.docker.io/bitnami/redis", true),
        ("docker.io/library/nginx", "index.docker.io/nginx", true),
        ("registry-1.docker.io/library/nginx", "nginx", true),
        ("ghcr.io:443/acme/**", "ghcr.io/acme/web", true),
        ("ghcr.io/acme/payments/**", "ghcr.io:8443/acme/payments/api:1", false),
        // A host with wildcards is normalised as a literal one is (these matched nothing).
        ("*.Corp.example/**", "registry.corp.example/app:1", true),
        ("*.corp.example:443/**", "registry.corp.example/app:1", true),
        ("*.corp.example:0443/**", "registry.corp.example:443/app:1", true),
        ("registry.corp.example:*/**", "registry.corp.example:5000/app", true),
        ("registry.corp.example:5*/**", "registry.corp.example/app", false),
        ("LOCALHOST/app", "localhost/app", true),
    ])
    func aliasesAndCaseVariantsMeetOneIdentity(glob: String, image: String, covered: Bool) throws {
        #expect(try matches(glob, image) == covered)
    }

    @Test(arguments: ["", " ", "ghcr.io/a b", "ghcr.io/***", "a//b", "ghcr.io/\t"])
    func invalidGlobs(_ glob: String) {
        #expect(throws: ImageGlobError.self) { try ImageGlob(glob) }
    }

    /// Capitals outside the registry host: no image name holds them, so the glob could never
    /// match and a policy written with it would leave every image it meant to cover uncovered
    /// (allowed under `--no-match-action allow`). It is an error instead, which makes such a
    /// policy in the cluster `Invalid`: it then denies what its lowercased reading covers.
    @Test(arguments: ["ghcr.io/Acme/**", "*.corp.example/Team/*", "Nginx", "**/Acme/*", "acme/App", "Acme/app", "docker.io/Library/nginx"])
    func globsWithCapitalsNoNameHoldsAreRefused(_ glob: String) throws {
        let error = try #require(throws: ImageGlobError.self) { try ImageGlob(glob) }
        #expect("\(error)".contains("could never match an image"), "\(error)")
        #expect(try matches("GHCR.IO/acme/**", "ghcr.io/acme/web"))
    }

    @Test func aPolicyWithAGlobNoNameMatchesDeniesWhatItsLowercasedReadingCovers() throws {
        let pattern = ClusterImagePolicy.ImagePattern(glob: "ghcr.io/Acme/**")
        #expect(PolicyLoader.standInPattern(pattern)?.glob == "ghcr.io/acme/**")
    }

    /// A backtracking matcher would take exponential time here; the time limit turns a hang into a failure.
    @Test(.timeLimit(.minutes(5))) func pathologicalPatternStaysLinear() throws {
        let glob = try ImageGlob("ghcr.io/" + String(repeating: "*a", count: 30) + "b")
        let text = "ghcr.io/" + String(repeating: "a", count: 200)
        #expect(!glob.matches(text: text))
    }
}
