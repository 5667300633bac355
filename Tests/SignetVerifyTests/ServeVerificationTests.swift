import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// An AdmissionReview (`admission.k8s.io/v1`) for a Pod running `images`, written to a file.
private func reviewFile(in directory: TemporaryDirectory, named name: String, images: [String]) throws -> String {
    try ReviewFiles.pod(in: directory, named: name, images: images)
}

private func review(_ server: SignetServerFixture, _ file: String) async throws -> (httpStatus: Int, body: String) {
    try await offThePool { try server.review(file) }
}

private func metric(_ server: SignetServerFixture, _ sample: String) async throws -> Double? {
    try await offThePool { try server.metricValue(sample) }
}

private func answer(_ body: String) throws -> AdmissionAnswer {
    try AdmissionAnswer(decoding: body)
}

@Suite("signet serve verifies signatures", .serialized)
struct ServeVerificationTests {
    @Test func signedUnsignedTamperedCachedAndSingleFlight() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)

        let signed = try ImageReference(parsing: "\(registry.host)/team/signed:v1")
        let signedDigest = try await images.pushImage(signed)
        try await images.sign(signedDigest, in: signed, with: [key])
        let unsigned = try ImageReference(parsing: "\(registry.host)/team/unsigned:v1")
        try await images.pushImage(unsigned)
        let tampered = try ImageReference(parsing: "\(registry.host)/team/tampered:v1")
        let tamperedDigest = try await images.pushImage(tampered)
        let payload = simpleSigningPayload(for: tamperedDigest, reference: tampered.name)
        try await images.pushSignatures(
            [SignatureLayer(payload: payload, signature: Data(try await key.signature(over: payload + [0x20])).base64EncodedString())],
            for: tamperedDigest, in: tampered)
        let crowd = try ImageReference(parsing: "\(registry.host)/team/crowd:v1")
        let crowdDigest = try await images.pushImage(crowd)
        try await images.sign(crowdDigest, in: crowd, with: [key])

        let policies = TemporaryDirectory(prefix: "signet-serve-policies")
        try policies.write("signed.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        let server = try await offThePool {
            try SignetServerFixture(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        }
        let reviews = TemporaryDirectory(prefix: "signet-serve-reviews")

        let allowed = try await review(server, try reviewFile(in: reviews, named: "signed", images: [signed.description]))
        #expect(allowed.httpStatus == 200)
        #expect(try answer(allowed.body).allowed, "\(allowed.body)")

        let denied = try answer(try await review(server, try reviewFile(in: reviews, named: "unsigned", images: [unsigned.description])).body)
        #expect(!denied.allowed)
        #expect(denied.message.contains("no cosign signatures"), "\(denied.message)")

        let forged = try answer(try await review(server, try reviewFile(in: reviews, named: "tampered", images: [tampered.description])).body)
        #expect(!forged.allowed)
        #expect(forged.message.contains("does not verify with any of the 1 trusted key(s)"), "\(forged.message)")

        // The same review again: served from the cache.
        let hitsBefore = try await metric(server, #"signet_verification_cache_hits_total{cache="verification"}"#) ?? 0
        let again = try await review(server, try reviewFile(in: reviews, named: "signed-again", images: [signed.description]))
        #expect(try answer(again.body).allowed)
        let hitsAfter = try #require(try await metric(server, #"signet_verification_cache_hits_total{cache="verification"}"#))
        #expect(hitsAfter == hitsBefore + 1)

        // 100 concurrent reviews of one uncached image: one signature fetch.
        let fetchesBefore = try await metric(server, #"signet_verification_signature_fetches_total{format="cosign-key"}"#) ?? 0
        let crowdFile = try reviewFile(in: reviews, named: "crowd", images: [crowd.description])
        // Each answer body is written to its own file: a denial is HTTP 200 too, so each is read
        // for `allowed`, not counted by status.
        let answers = TemporaryDirectory(prefix: "signet-crowd-answers")
        var arguments = ["--parallel", "--parallel-immediate", "--parallel-max", "100"]
        for index in 0..<100 {
            if index > 0 { arguments.append("--next") }
            arguments += [
                "--cacert", server.pki.caFile, "-sS", "-o", answers.file("\(index).json").path, "-w", "%{http_code}\n",
                "-H", "Content-Type: application/json", "--data-binary", "@\(crowdFile)", "\(server.baseURL)/validate?timeout=30s",
            ]
        }
        let crowdRun = try await TestProcess.run("curl", arguments)
        #expect(crowdRun.status == 0, "\(crowdRun.stderr)")
        #expect(crowdRun.stdout.split(separator: "\n").filter { $0 == "200" }.count == 100)
        for index in 0..<100 {
            let body = try String(contentsOf: answers.file("\(index).json"), encoding: .utf8)
            #expect(try answer(body).allowed, "review \(index): \(body)")
        }
        let fetchesAfter = try #require(try await metric(server, #"signet_verification_signature_fetches_total{format="cosign-key"}"#))
        #expect(fetchesAfter == fetchesBefore + 1)
        let allowedCrowd = try answer(try await review(server, crowdFile).body)
        #expect(allowedCrowd.allowed)
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}

extension ServeVerificationTests {
    /// cosign 3 signs with `--key` as a Sigstore bundle attached as a referrer: /validate admits
    /// the image under a key policy, and denies one whose bundle another key made.
    @Test func cosign3KeyBundlesThroughValidate() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)
        let stranger = try await TestSigningKey.generate(.ecP256, slot: 1)

        let signed = try ImageReference(parsing: "\(registry.host)/team/bundled:v1")
        let signedDigest = try await images.pushImage(signed)
        try await KeyBundle.attach([try await KeyBundle.dsse(KeyBundle.statement(for: signedDigest), key: key)], to: signedDigest, in: signed, client: client)
        let forged = try ImageReference(parsing: "\(registry.host)/team/forged:v1")
        let forgedDigest = try await images.pushImage(forged)
        try await KeyBundle.attach([try await KeyBundle.dsse(KeyBundle.statement(for: forgedDigest), key: stranger)], to: forgedDigest, in: forged, client: client)

        let policies = TemporaryDirectory(prefix: "signet-serve-policies")
        try policies.write("signed.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        let server = try await offThePool {
            try SignetServerFixture(policyDirectory: policies.path, arguments: ["--allow-insecure-registry", registry.host])
        }
        let reviews = TemporaryDirectory(prefix: "signet-serve-reviews")
        let allowed = try answer(try await review(server, try reviewFile(in: reviews, named: "bundled", images: [signed.description])).body)
        #expect(allowed.allowed, "\(allowed.message)")
        let denied = try answer(try await review(server, try reviewFile(in: reviews, named: "forged", images: [forged.description])).body)
        #expect(!denied.allowed)
        #expect(denied.message.contains("team-signed"), "\(denied.message)")
        #expect(denied.message.contains("does not verify with any of the 1 trusted key(s)"), "\(denied.message)")
        _ = try? await offThePool {
            server.stop()
            registry.stop()
        }
    }
}

@Suite("signet verify", .serialized)
struct VerifyCommandTests {
    @Test func acceptsAliceAndRejectsBob() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        try await ConnaisseurVectors.push(to: registry, client: client)
        let image = "\(registry.host)/\(ConnaisseurVectors.repository):multi-cosigned-alice"
        let binary = TestPaths.signetBinary.path

        let alice = try await offThePool { try TestProcess.run(binary, ["verify", image, "--key", ConnaisseurVectors.keyFile("alice"), "--allow-insecure-registry", registry.host]) }
        #expect(alice.status == 0, "\(alice.stdout)\(alice.stderr)")
        #expect(alice.stdout.hasPrefix("VERIFIED: \(image)"))
        #expect(alice.stdout.contains("digest: \(ConnaisseurVectors.aliceDigest)"))

        let bob = try await offThePool { try TestProcess.run(binary, ["verify", image, "--key", ConnaisseurVectors.keyFile("bob"), "--allow-insecure-registry", registry.host]) }
        #expect(bob.status == 1, "\(bob.stdout)\(bob.stderr)")
        #expect(bob.stdout.hasPrefix("NOT VERIFIED"))

        let multi = "\(registry.host)/\(ConnaisseurVectors.repository)@\(ConnaisseurVectors.multiDigest)"
        let json = try await offThePool { try TestProcess.run(binary, [
            "verify", multi, "--key", ConnaisseurVectors.keyFile("alice"), "--key", ConnaisseurVectors.keyFile("bob"),
            "--key", ConnaisseurVectors.keyFile("charlie"), "--threshold", "3", "--output", "json", "--allow-insecure-registry", registry.host,
        ]) }
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["passed"] as? Bool == true)
        #expect((object["signers"] as? [Any])?.count == 3)
        #expect(object["digest"] as? String == ConnaisseurVectors.multiDigest.description)

        let unreachable = try await offThePool { try TestProcess.run(binary, ["verify", "127.0.0.1:1/app:v1", "--key", ConnaisseurVectors.keyFile("alice"), "--allow-insecure-registry", "127.0.0.1:1", "--timeout", "5s"]) }
        #expect(unreachable.status == 2)
        let badKey = try await offThePool { try TestProcess.run(binary, ["verify", image, "--key", "/nonexistent.pub"]) }
        #expect(badKey.status == 2)
        _ = try? await offThePool { registry.stop() }
    }
}
