import Foundation
import SignetTestSupport
import Testing

/// `signet review -f FILE` (the built binary): the offline twin of `kubectl apply --dry-run=server`.
@Suite
struct ReviewCommandTests {
    let policies: TemporaryDirectory
    let scratch = TemporaryDirectory(prefix: "signet-review")

    init() throws {
        policies = try LivePolicies.makeDirectory()
    }

    func review(_ file: String, _ extra: [String] = []) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await TestProcess.run(TestPaths.signetBinary.path, ["review", "-f", file, "--policy-dir", policies.path] + extra)
    }

    @Test func bareDeploymentInYAMLIsAllowed() async throws {
        let file = try scratch.write("deploy.yaml", """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              namespace: shop
            spec:
              replicas: 3
              template:
                spec:
                  initContainers:
                    - name: pause
                      image: registry.k8s.io/pause:3.9
                  containers:
                    - name: web
                      image: ghcr.io/signet-demo/web:1.0
            """)
        let result = try await review(file.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ALLOWED"))
    }

    @Test func deniedPodNamesImagePolicyAndReason() async throws {
        let file = try scratch.write("pod.json", #"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"proxy","image":"nginx:1.25"}]}}
            """#)
        let result = try await review(file.path)
        #expect(result.status == 1)
        #expect(result.stdout.contains("DENIED"))
        #expect(result.stdout.contains("docker.io/library/nginx:1.25"))
        #expect(result.stdout.contains("no-docker-hub"))
        #expect(result.stdout.contains("Docker Hub images are not trusted here"))
    }

    @Test func multiDocumentYAMLIsDeniedWhenAnyDocumentIs() async throws {
        let file = try scratch.write("two.yaml", """
            apiVersion: v1
            kind: Pod
            metadata: {name: a}
            spec: {containers: [{name: a, image: "ghcr.io/signet-demo/a:1"}]}
            ---
            apiVersion: batch/v1
            kind: CronJob
            metadata: {name: b}
            spec:
              schedule: "0 * * * *"
              jobTemplate:
                spec:
                  template:
                    spec:
                      containers: [{name: b, image: "busybox:1.36"}]
            """)
        let result = try await review(file.path)
        #expect(result.status == 1)
        #expect(result.stdout.contains("document 1: ALLOWED"))
        #expect(result.stdout.contains("document 2: DENIED"))
    }

    @Test func admissionReviewFilesAndJSONOutput() async throws {
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "StatefulSet", images: [("db", "ghcr.io/signet-demo/db:2")], uid: "abc-123"), in: scratch)
        let result = try await review(file, ["--output", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let response = try admissionResponse(result.stdout)
        #expect(response["uid"] as? String == "abc-123")
        #expect(response["allowed"] as? Bool == true)
    }

    @Test func errorsExitTwo() async throws {
        let notYAML = try scratch.write("bad.yaml", "kind: [unclosed")
        #expect(try await review(notYAML.path).status == 2)
        #expect(try await review(scratch.file("missing.yaml").path).status == 2)
        let badPolicies = TemporaryDirectory(prefix: "signet-bad-policies")
        try badPolicies.write("p.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec: {images: [{glob: ''}]}\n")
        let pod = try scratch.write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: nginx}]}\n")
        let result = try await TestProcess.run(TestPaths.signetBinary.path, ["review", "-f", pod.path, "--policy-dir", badPolicies.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("p.yaml"))
    }

    /// A JSON file naming a member twice (`metadata.namespace`) reads one way to kubectl (the
    /// last) and could read another to signet: refused, as a repeated YAML key is.
    @Test func aJSONFileWithARepeatedMemberIsRefused() async throws {
        let file = try scratch.write("pod.json", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"exempt","namespace":"prod"},"spec":{"containers":[{"name":"a","image":"nginx"}]}}"#)
        let result = try await review(file.path)
        #expect(result.status == 2, "\(result.stdout)")
        #expect(result.stderr.contains("namespace"), "\(result.stderr)")
        let yaml = try scratch.write("pod-twice.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: exempt, namespace: prod}\nspec: {containers: [{name: a, image: nginx}]}\n")
        #expect(try await review(yaml.path).status == 2)
    }

    /// A workload file whose anchors and aliases nest (a kilobyte standing for millions of
    /// nodes) is refused at once: it took `signet review` half a minute and gigabytes per level.
    @Test(.timeLimit(.minutes(5))) func nestedAliasesAreRefused() async throws {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n\(YAMLAliasBomb.mapping(depth: 10, indent: 4))\n"
            + "spec: {containers: [{name: a, image: nginx}]}\n"
        let file = try scratch.write("bomb.yaml", pod)
        let result = try await review(file.path)
        #expect(result.status == 2)
        #expect(result.stderr.contains("stands for more than 1000000 nodes once its aliases are expanded"), "\(result.stderr)")
    }

    @Test func versionPrintsTheRelease() async throws {
        let result = try await TestProcess.run(TestPaths.signetBinary.path, ["version"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("signet "))
    }
}
