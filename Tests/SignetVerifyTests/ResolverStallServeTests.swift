import Foundation
import SignetTestSupport
import Testing

/// A registry host whose DNS lookup never ends (a name anyone writing a pod spec can choose,
/// under a domain whose name server does not answer) must not hold up other images' registry
/// traffic. One thread drives every registry transfer; when a transfer ended while its name was
/// still being resolved, curl waited on that thread for the lookup to finish.
///
/// The stalled lookup is made on 127.0.0.1 alone: `signet serve` runs with a `getaddrinfo` that
/// the test compiles and preloads, which waits 60 s for `*.stall.invalid` and passes every other
/// name through.
@Suite("signet serve: a stalled DNS lookup", .serialized)
struct ResolverStallServeTests {
    static let shim = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <netdb.h>
        #include <string.h>
        #include <unistd.h>
        typedef int (*lookup)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
        int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **result) {
            if (node != NULL && strstr(node, ".stall.invalid") != NULL) {
                sleep(60);
                return EAI_AGAIN;
            }
            lookup real = (lookup)dlsym(RTLD_NEXT, "getaddrinfo");
            return real(node, service, hints, result);
        }
        """

    /// `signet serve` with the stalling `getaddrinfo` preloaded, a policy requiring a key
    /// signature of every image, `arguments` and the `stalled` hosts allowed over plain HTTP; and
    /// a registry on 127.0.0.1 that has no signature of anything (its images are denied at once,
    /// naming that).
    /// The directories (the shim, the policies) are returned to be kept as long as the server runs.
    static func serve(
        stalled: [String], arguments: [String] = []
    ) async throws -> (server: SignetServerFixture, registry: RegistryStubServer, directories: [TemporaryDirectory]) {
        let scratch = TemporaryDirectory(prefix: "signet-resolver-stall")
        try scratch.write("stall.c", shim)
        let library = scratch.path + "/stall.so"
        let compiled = try await TestProcess.run("/usr/bin/cc", ["-shared", "-fPIC", "-o", library, scratch.path + "/stall.c", "-ldl"])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let registry = try await RegistryStubServer.start(routes: [:])
        let key = try await TestSigningKey.generate(.ecP256)
        let policies = TemporaryDirectory(prefix: "signet-resolver-stall-policies")
        try policies.write("all.yaml", keyPolicyYAML(name: "signed-everywhere", glob: "**", keyFile: key.publicKeyFile))
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path,
            arguments: arguments + ([registry.host] + stalled).flatMap { ["--allow-insecure-registry", $0] },
            environment: ["LD_PRELOAD": library])
        return (server, registry, [scratch, policies])
    }

    /// An image of `registry` (reached by its address: no lookup) is decided on what the
    /// registry says: denied for want of a signature, neither at the deadline nor for a lookup.
    /// The deadline is generous: on a busy machine the answer may be slow, but it cannot come
    /// from a stalled lookup, which outlasts it.
    static func expectDecidedByTheRegistry(
        _ registry: RegistryStubServer, server: SignetServerFixture, reviews: TemporaryDirectory, digest: String
    ) async throws {
        let image = "\(registry.host)/team/app@\(digest)"
        let answering = try ReviewFiles.pod(in: reviews, named: "answering", images: [image])
        let review = try await FaultReview.post(answering, to: server, timeoutSeconds: 30, peer: "dns", fault: "other-registry")
        let answer = try #require(review.answer, "\(review.stderr)")
        #expect(!answer.allowed)
        #expect(answer.message.contains(image), "\(answer.message)")
        #expect(!answer.message.contains("deadline") && !answer.message.contains("not looking up"), "held up by a stalled lookup: \(answer.message)")
        #expect(answer.message.contains("signature"), "\(answer.message)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "no C compiler (/usr/bin/cc) to build the stalling getaddrinfo"))
    func aLookupThatNeverEndsHoldsUpNoOtherImage() async throws {
        let stalled = "registry.stall.invalid:5000"
        let (server, registry, directories) = try await Self.serve(stalled: [stalled])
        defer {
            server.stop()
            registry.stop()
            withExtendedLifetime(directories) {}
        }
        let reviews = TemporaryDirectory(prefix: "signet-resolver-stall-reviews")
        let digest = "sha256:" + String(repeating: "ab", count: 32)

        // The first review waits for the lookup until its deadline and is denied naming it.
        let first = try ReviewFiles.pod(in: reviews, named: "stalled", images: ["\(stalled)/team/app@\(digest)"])
        let stalledReview = try await FaultReview.post(first, to: server, timeoutSeconds: 2, peer: "dns", fault: "stalled-lookup")
        let stalledAnswer = try #require(stalledReview.answer, "\(stalledReview.stderr)")
        #expect(!stalledAnswer.allowed)
        #expect(stalledAnswer.message.contains("deadline"), "\(stalledAnswer.message)")

        // The lookup goes on for most of a minute; an image on a registry that answers is
        // decided meanwhile, on what the registry said (it used to wait for the lookup, past its
        // own deadline).
        try await Self.expectDecidedByTheRegistry(registry, server: server, reviews: reviews, digest: digest)
    }

    /// With the lookup no longer waited for, each review naming a new stalled host leaves a
    /// resolver thread behind for the lookup's whole timeout: the hosts are chosen by whoever
    /// writes pods, so those threads are bounded. Lookups under way count as well as those left
    /// running: past `--max-unfinished-lookups`, a lookup is refused at once, naming why, while
    /// images whose registry needs no lookup are decided. (One namespace's share is checked in
    /// `UnfinishedLookupsTests`.)
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "no C compiler (/usr/bin/cc) to build the stalling getaddrinfo"))
    func lookupsLeftRunningAreBounded() async throws {
        let hosts = ["one", "two", "three", "four", "five", "six"].map { "registry-\($0).stall.invalid:5000" }
        let (server, registry, directories) = try await Self.serve(stalled: hosts, arguments: ["--max-unfinished-lookups", "4"])
        defer {
            server.stop()
            registry.stop()
            withExtendedLifetime(directories) {}
        }
        let reviews = TemporaryDirectory(prefix: "signet-resolver-stall-reviews")
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let files = try hosts.enumerated().map { index, host in
            try ReviewFiles.pod(in: reviews, named: "stalled-\(index)", namespace: "team-\(index)", images: ["\(host)/team/app@\(digest)"])
        }

        // Five at once, each from a namespace of its own (one namespace takes fewer than half of
        // the places left free): four wait for their lookups until their deadlines (and leave
        // them running), the fifth is refused at once (retried until its deadline while no place
        // frees).
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for (index, file) in files.prefix(5).enumerated() {
                group.addTask {
                    let review = try await FaultReview.post(file, to: server, timeoutSeconds: 2, peer: "dns", fault: "stalled-lookup-\(index)")
                    let answer = try #require(review.answer, "\(review.stderr)")
                    #expect(!answer.allowed)
                    return answer.message
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refusedAtOnce = answers.filter { $0.contains("not looking up") }
        #expect(refusedAtOnce.count == 1, "\(answers)")
        #expect(answers.filter { $0.contains("deadline") && !$0.contains("not looking up") }.count == 4, "\(answers)")
        #expect(refusedAtOnce.first?.contains("4 host name lookups are running or were left running") == true, "\(answers)")

        // Those four are left running: the next new host is refused too.
        let sixth = try await FaultReview.post(files[5], to: server, timeoutSeconds: 2, peer: "dns", fault: "refused-lookup")
        let refused = try #require(sixth.answer, "\(sixth.stderr)")
        #expect(!refused.allowed)
        #expect(refused.message.contains("not looking up registry-six.stall.invalid:5000"), "\(refused.message)")

        // A registry reached by its address needs no lookup and is decided on what it says.
        try await Self.expectDecidedByTheRegistry(registry, server: server, reviews: reviews, digest: digest)
    }
}
