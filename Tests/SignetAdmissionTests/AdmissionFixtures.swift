import Foundation
import SignetAdmission
import SignetPolicy

/// Policies used by the admission tests: signet-demo images pass, Docker Hub fails, a Warn
/// policy for quay.io/warn, nothing else is covered (no-match deny).
func testPolicies() throws -> PolicySet {
    let yaml = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: demo-allowed
        spec:
          images:
            - glob: "ghcr.io/signet-demo/**"
          authorities:
            - name: demo
              static:
                action: pass
        ---
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: deny-untrusted
        spec:
          images:
            - glob: "docker.io/**"
          authorities:
            - name: block
              static:
                action: fail
                message: "Docker Hub images are not signed by a trusted key"
        ---
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: warn-quay
        spec:
          images:
            - glob: "quay.io/warn/**"
          authorities:
            - static:
                action: fail
                message: "unsigned"
          mode: Warn
        """
    return try PolicyLoader().load(files: [PolicySourceFile(name: "test.yaml", bytes: Array(yaml.utf8))])
}

func makeResponder() throws -> AdmissionResponder {
    AdmissionResponder(evaluator: PolicyEvaluator(policies: try testPolicies()))
}

let allowedImage = "ghcr.io/signet-demo/app:v1"
let deniedImage = "nginx:1.25"

/// A pod spec as the API server serialises it after defaulting; `imageVolumes` are image volumes
/// (name and reference), written after a `configMap` and an `emptyDir` volume that name no image.
func podSpec(
    containers: [(String, String)], initContainers: [(String, String)] = [], ephemeral: [(String, String)] = [],
    imageVolumes: [(String, String)] = []
) -> String {
    func list(_ items: [(String, String)], ephemeral: Bool = false) -> String {
        "[" + items.map { name, image in
            """
            {"name":"\(name)","image":"\(image)","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"\(ephemeral ? #","targetContainerName":"web""# : "")}
            """
        }.joined(separator: ",") + "]"
    }
    var fields = [#""containers":\#(list(containers))"#]
    if !initContainers.isEmpty { fields.append(#""initContainers":\#(list(initContainers))"#) }
    if !ephemeral.isEmpty { fields.append(#""ephemeralContainers":\#(list(ephemeral, ephemeral: true))"#) }
    if !imageVolumes.isEmpty {
        let volumes = [#"{"name":"config","configMap":{"name":"web-config","defaultMode":420}}"#, #"{"name":"scratch","emptyDir":{}}"#]
            + imageVolumes.map { name, reference in #"{"name":"\#(name)","image":{"reference":"\#(reference)","pullPolicy":"IfNotPresent"}}"# }
        fields.append(#""volumes":[\#(volumes.joined(separator: ","))]"#)
    }
    fields += [#""restartPolicy":"Always""#, #""terminationGracePeriodSeconds":30"#, #""dnsPolicy":"ClusterFirst""#,
               #""securityContext":{}"#, #""schedulerName":"default-scheduler""#]
    return "{" + fields.joined(separator: ",") + "}"
}

struct WorkloadFixture: Sendable, CustomStringConvertible {
    var kind: String
    var group: String
    var resource: String
    /// Wraps a pod spec JSON into the object.
    var wrap: @Sendable (String) -> String
    var description: String { kind }

    static func template(_ spec: String) -> String {
        #"{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":\#(spec)}"#
    }

    static let all: [WorkloadFixture] = [
        WorkloadFixture(kind: "Pod", group: "", resource: "pods") { spec in
            #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"team","uid":"5b3f0c1e-0000-4000-8000-000000000001","creationTimestamp":null,"labels":{"app":"web"}},"spec":\#(spec),"status":{}}"#
        },
        WorkloadFixture(kind: "Deployment", group: "apps", resource: "deployments") { spec in
            #"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"team","generation":1},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":\#(template(spec)),"strategy":{"type":"RollingUpdate"},"revisionHistoryLimit":10,"progressDeadlineSeconds":600},"status":{}}"#
        },
        WorkloadFixture(kind: "ReplicaSet", group: "apps", resource: "replicasets") { spec in
            #"{"kind":"ReplicaSet","apiVersion":"apps/v1","metadata":{"name":"web-7d9c","namespace":"team"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":\#(template(spec))},"status":{"replicas":0}}"#
        },
        WorkloadFixture(kind: "StatefulSet", group: "apps", resource: "statefulsets") { spec in
            #"{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":"db","namespace":"team"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"serviceName":"db","template":\#(template(spec)),"volumeClaimTemplates":[]},"status":{"replicas":0}}"#
        },
        WorkloadFixture(kind: "DaemonSet", group: "apps", resource: "daemonsets") { spec in
            #"{"kind":"DaemonSet","apiVersion":"apps/v1","metadata":{"name":"agent","namespace":"team"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":\#(template(spec)),"updateStrategy":{"type":"RollingUpdate"}},"status":{"currentNumberScheduled":0}}"#
        },
        WorkloadFixture(kind: "Job", group: "batch", resource: "jobs") { spec in
            #"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"migrate","namespace":"team"},"spec":{"parallelism":1,"completions":1,"backoffLimit":6,"template":\#(template(spec))},"status":{}}"#
        },
        WorkloadFixture(kind: "CronJob", group: "batch", resource: "cronjobs") { spec in
            #"{"kind":"CronJob","apiVersion":"batch/v1","metadata":{"name":"nightly","namespace":"team"},"spec":{"schedule":"0 3 * * *","concurrencyPolicy":"Allow","jobTemplate":{"metadata":{"creationTimestamp":null},"spec":{"template":\#(template(spec))}}},"status":{}}"#
        },
        WorkloadFixture(kind: "ReplicationController", group: "", resource: "replicationcontrollers") { spec in
            #"{"kind":"ReplicationController","apiVersion":"v1","metadata":{"name":"legacy","namespace":"team"},"spec":{"replicas":1,"selector":{"app":"web"},"template":\#(template(spec))},"status":{"replicas":0}}"#
        },
    ]
}

/// An AdmissionReview as kube-apiserver sends it.
func review(
    uid: String = "705ab4f5-6393-11e8-b7cc-42010a800002",
    kind: String, group: String = "", version: String? = nil, resource: String, subResource: String? = nil,
    name: String? = "web", namespace: String? = "team", operation: String = "CREATE",
    object: String?, oldObject: String? = nil, dryRun: Bool = false
) -> [UInt8] {
    let version = version ?? (group == "batch" || group == "apps" ? "v1" : "v1")
    let options = operation == "DELETE" ? "DeleteOptions" : operation == "UPDATE" ? "UpdateOptions" : "CreateOptions"
    let json = """
        {
          "kind": "AdmissionReview",
          "apiVersion": "admission.k8s.io/v1",
          "request": {
            "uid": "\(uid)",
            "kind": {"group": "\(group)", "version": "\(version)", "kind": "\(kind)"},
            "resource": {"group": "\(group)", "version": "\(version)", "resource": "\(resource)"},
            \(subResource.map { #""subResource": "\#($0)","# } ?? "")
            "requestKind": {"group": "\(group)", "version": "\(version)", "kind": "\(kind)"},
            "requestResource": {"group": "\(group)", "version": "\(version)", "resource": "\(resource)"},
            \(name.map { #""name": "\#($0)","# } ?? "")
            \(namespace.map { #""namespace": "\#($0)","# } ?? "")
            "operation": "\(operation)",
            "userInfo": {"username": "admin@example.com", "uid": "42", "groups": ["system:authenticated"]},
            "object": \(object ?? "null"),
            "oldObject": \(oldObject ?? "null"),
            "dryRun": \(dryRun),
            "options": {"kind": "\(options)", "apiVersion": "meta.k8s.io/v1"}
          }
        }
        """
    return Array(json.utf8)
}

let farDeadline: ContinuousClock.Instant = .now + .seconds(3600)

/// Decodes a 200 answer into its response.
func decodeResponse(_ result: AdmissionHTTPResult) throws -> AdmissionResponse {
    let review = try JSONDecoder().decode(AdmissionReview.self, from: Data(result.body))
    guard review.apiVersion == "admission.k8s.io/v1", review.kind == "AdmissionReview", let response = review.response else {
        throw CocoaError(.coderReadCorrupt)
    }
    return response
}
