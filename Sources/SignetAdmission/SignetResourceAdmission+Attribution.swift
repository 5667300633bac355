import Foundation
import SignetPolicy

/// Attribution of `PolicyException` and `EmergencyBypass` objects (issue 16, "Attributed"; see
/// ``ExemptionAttribution``), in two halves through Kubernetes "Dynamic Admission Control":
///
/// - `/mutate` stamps the annotations from `request.userInfo` (`username`, `groups`): all four at
///   `CREATE`; at `UPDATE` the creator's two are copied from `oldObject` (removed when it had
///   none) and the last-changed pair is stamped. A JSON Patch (RFC 6902) of `add`/`remove` ops.
/// - `/validate` refuses a `CREATE` or `UPDATE` whose annotations differ from what `/mutate` would
///   have stamped: a value written by hand (a forged creator), or one left unstamped because the
///   mutating webhook was not in the path.
extension SignetResourceAdmission {
    /// What the attribution of one request should be, read from the review body.
    struct AttributionRequest {
        var operation: String
        var user: String
        var groups: [String]
        var annotations: [String: String]
        var oldAnnotations: [String: String]?
        var hasAnnotations: Bool

        /// The four annotations as signet stamps them for this request.
        var expected: [String: String?] {
            let created: (String?, String?)
            if operation == "UPDATE" {
                created = (oldAnnotations?[ExemptionAttribution.createdByAnnotation], oldAnnotations?[ExemptionAttribution.createdByGroupsAnnotation])
            } else {
                created = (user, groups.joined(separator: ","))
            }
            return [
                ExemptionAttribution.createdByAnnotation: created.0,
                ExemptionAttribution.createdByGroupsAnnotation: created.1,
                ExemptionAttribution.lastChangedByAnnotation: user,
                ExemptionAttribution.lastChangedByGroupsAnnotation: groups.joined(separator: ","),
            ]
        }
    }

    /// Whether `kind` carries attribution.
    static func isAttributed(_ request: AdmissionRequest) -> Bool {
        request.kind.group == ClusterImagePolicy.group
            && (request.kind.kind == PolicyException.kind || request.kind.kind == EmergencyBypass.kind)
            && (request.operation == .create || request.operation == .update)
    }

    /// The attribution inputs of `body`, or `nil` when it has no object or no user.
    static func attributionRequest(in body: [UInt8]) -> AttributionRequest? {
        guard case .success(let request) = AdmissionReviewObject.request(in: body),
              let operation = request["operation"] as? String,
              let object = request["object"] as? [String: Any],
              let userInfo = request["userInfo"] as? [String: Any],
              let user = userInfo["username"] as? String, !user.isEmpty else { return nil }
        let metadata = object["metadata"] as? [String: Any]
        let annotations = metadata?["annotations"] as? [String: String]
        let oldMetadata = (request["oldObject"] as? [String: Any])?["metadata"] as? [String: Any]
        return AttributionRequest(
            operation: operation, user: user, groups: userInfo["groups"] as? [String] ?? [],
            annotations: annotations ?? [:], oldAnnotations: oldMetadata.map { $0["annotations"] as? [String: String] ?? [:] },
            hasAnnotations: annotations != nil)
    }

    /// The JSON Patch that stamps the attribution of `body`'s object (`nil` when nothing changes).
    static func attributionPatch(for body: [UInt8]) -> Data? {
        guard let request = attributionRequest(in: body) else { return nil }
        var writer = JSONWriter(capacity: 512)
        var count = 0
        writer.raw("[")
        func op(_ text: StaticString) {
            if count > 0 { writer.raw(",") }
            writer.raw(text)
            count += 1
        }
        if !request.hasAnnotations { op(#"{"op":"add","path":"/metadata/annotations","value":{}}"#) }
        for key in ExemptionAttribution.annotations {
            let path = "/metadata/annotations/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
            let wanted = request.expected[key] ?? nil
            if let wanted {
                guard request.annotations[key] != wanted else { continue }
                op(#"{"op":"add","path":"#)
                writer.string(path)
                writer.raw(#","value":"#)
                writer.string(wanted)
                writer.raw("}")
            } else if request.annotations[key] != nil {
                op(#"{"op":"remove","path":"#)
                writer.string(path)
                writer.raw("}")
            }
        }
        writer.raw("]")
        // Only the empty annotations map: nothing to stamp after all.
        if count == 0 || (count == 1 && !request.hasAnnotations) { return nil }
        return Data(writer.bytes)
    }

    /// Why `body`'s object carries an attribution signet did not stamp, or `nil` when it is right.
    static func attributionProblem(in body: [UInt8]) -> String? {
        guard let request = attributionRequest(in: body) else {
            return "the request names no authenticated user, so signet cannot record who made the change"
        }
        for key in ExemptionAttribution.annotations {
            let wanted = request.expected[key] ?? nil
            let found = request.annotations[key]
            guard found != wanted else { continue }
            if found == nil {
                return "metadata.annotations[\(key)]: missing; signet records who created and changed exceptions and bypasses through its mutating webhook (/mutate), which did not stamp this object: install it (the chart's MutatingWebhookConfiguration) before creating exemptions"
            }
            let should = wanted.map { "\"\($0)\"" } ?? "absent (the object was stored without it)"
            return "metadata.annotations[\(key)]: \"\(found!)\" is not what the API server authenticated (\(should)); these annotations are written by signet only and cannot be set or changed by hand"
        }
        return nil
    }
}
