/// Reads an `admission.k8s.io/v1` `AdmissionReview` request straight from the checked JSON
/// document: one walk over the members signet needs, no `Decoder` containers, no coding paths.
///
/// It answers exactly as `AdmissionReview(from:)` over ``LazyJSONDecoder`` does for every
/// document it accepts (duplicate member names: the last wins; `null` is absent; the pod specs
/// read leniently into ``WorkloadObject``). A document the Codable path would reject, or that
/// holds something this reader leaves to it (a wrong type anywhere on the request's path, a
/// missing or `null` required field, an unknown operation, a `response` member), makes ``read(_:)``
/// return `nil`; the caller then decodes with ``LazyJSONDecoder``, which gives the same result
/// or the precise error. The decoder's containers, path nodes and existential calls were most of
/// the cost of a warm decision.
enum AdmissionReviewReader {
    /// Something the reader leaves to the general decoder.
    struct Fallback: Error {}

    /// The review in `document`, or `nil` when the general decoder must decide.
    static func read(_ document: JSONDocument) -> AdmissionReview? {
        try? review(document, at: document.skipWhitespace(0))
    }

    private static func review(_ document: JSONDocument, at start: Int) throws(Fallback) -> AdmissionReview {
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        var apiVersion: Int?
        var kind: Int?
        var request: Int?
        var response: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "apiVersion") {
                apiVersion = value
            } else if document.name(at: name, is: "kind") {
                kind = value
            } else if document.name(at: name, is: "request") {
                request = value
            } else if document.name(at: name, is: "response") {
                response = value
            }
        }
        if let response, !document.isNull(at: response) { throw Fallback() }
        var read: AdmissionRequest?
        if let request, !document.isNull(at: request) { read = try self.request(document, at: request) }
        // Built once and moved into the review: assigning its fields one by one copied the request.
        return AdmissionReview(apiVersion: try optionalString(document, apiVersion), kind: try optionalString(document, kind), request: read)
    }

    private static func request(_ document: JSONDocument, at start: Int) throws(Fallback) -> AdmissionRequest {
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        var uid: Int?, kind: Int?, resource: Int?, subResource: Int?, name: Int?, namespace: Int?
        var operation: Int?, userInfo: Int?, dryRun: Int?, object: Int?, oldObject: Int?
        document.forEachMember(ofObjectAt: start) { member, value in
            switch document.byte(at: member.start + 1) {
            case UInt8(ascii: "u"):
                if document.name(at: member, is: "uid") { uid = value } else if document.name(at: member, is: "userInfo") { userInfo = value }
            case UInt8(ascii: "k"):
                if document.name(at: member, is: "kind") { kind = value }
            case UInt8(ascii: "r"):
                if document.name(at: member, is: "resource") { resource = value }
            case UInt8(ascii: "s"):
                if document.name(at: member, is: "subResource") { subResource = value }
            case UInt8(ascii: "n"):
                if document.name(at: member, is: "name") { name = value } else if document.name(at: member, is: "namespace") { namespace = value }
            case UInt8(ascii: "o"):
                if document.name(at: member, is: "operation") {
                    operation = value
                } else if document.name(at: member, is: "object") {
                    object = value
                } else if document.name(at: member, is: "oldObject") {
                    oldObject = value
                }
            case UInt8(ascii: "d"):
                if document.name(at: member, is: "dryRun") { dryRun = value }
            case UInt8(ascii: "\\"):
                // An escaped name: compare the decoded text.
                switch document.decodeString(at: member.start) {
                case "uid": uid = value
                case "userInfo": userInfo = value
                case "kind": kind = value
                case "resource": resource = value
                case "subResource": subResource = value
                case "name": name = value
                case "namespace": namespace = value
                case "operation": operation = value
                case "object": object = value
                case "oldObject": oldObject = value
                case "dryRun": dryRun = value
                default: break
                }
            default:
                break
            }
        }
        guard let uid, document.byte(at: uid) == JSONDocument.quote,
              let kind, let operation, document.byte(at: operation) == JSONDocument.quote,
              let parsedOperation = AdmissionOperation(rawValue: document.decodeString(at: operation))
        else { throw Fallback() }
        return AdmissionRequest(
            uid: document.decodeString(at: uid), kind: try groupVersionKind(document, at: kind),
            resource: try groupVersionResource(document, resource), subResource: try optionalString(document, subResource),
            name: try optionalString(document, name), namespace: try optionalString(document, namespace),
            operation: parsedOperation, userInfo: try self.userInfo(document, userInfo), dryRun: try optionalBool(document, dryRun),
            object: try workloadObject(document, object), oldObject: try workloadObject(document, oldObject))
    }

    // MARK: - Fields

    private static func optionalString(_ document: JSONDocument, _ value: Int?) throws(Fallback) -> String? {
        guard let value else { return nil }
        switch document.byte(at: value) {
        case JSONDocument.quote: return document.decodeString(at: value)
        case UInt8(ascii: "n"): return nil
        default: throw Fallback()
        }
    }

    private static func optionalBool(_ document: JSONDocument, _ value: Int?) throws(Fallback) -> Bool? {
        guard let value else { return nil }
        switch document.byte(at: value) {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        case UInt8(ascii: "n"): return nil
        default: throw Fallback()
        }
    }

    /// `group`, `version` (absent or null: empty) and the `kind` it requires.
    private static func groupVersionKind(_ document: JSONDocument, at start: Int) throws(Fallback) -> GroupVersionKind {
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        var group: Int?, version: Int?, kind: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "group") {
                group = value
            } else if document.name(at: name, is: "version") {
                version = value
            } else if document.name(at: name, is: "kind") {
                kind = value
            }
        }
        guard let kind, document.byte(at: kind) == JSONDocument.quote else { throw Fallback() }
        return GroupVersionKind(
            group: try optionalString(document, group) ?? "", version: try optionalString(document, version) ?? "",
            kind: document.decodeString(at: kind))
    }

    private static func groupVersionResource(_ document: JSONDocument, _ start: Int?) throws(Fallback) -> GroupVersionResource? {
        guard let start, !document.isNull(at: start) else { return nil }
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        var group: Int?, version: Int?, resource: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "group") {
                group = value
            } else if document.name(at: name, is: "version") {
                version = value
            } else if document.name(at: name, is: "resource") {
                resource = value
            }
        }
        return GroupVersionResource(
            group: try optionalString(document, group) ?? "", version: try optionalString(document, version) ?? "",
            resource: try optionalString(document, resource) ?? "")
    }

    private static func userInfo(_ document: JSONDocument, _ start: Int?) throws(Fallback) -> AdmissionUserInfo? {
        guard let start, !document.isNull(at: start) else { return nil }
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        var username: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "username") { username = value }
        }
        return AdmissionUserInfo(username: try optionalString(document, username))
    }

    private static func workloadObject(_ document: JSONDocument, _ start: Int?) throws(Fallback) -> WorkloadObject? {
        guard let start, !document.isNull(at: start) else { return nil }
        guard document.byte(at: start) == JSONDocument.objectStart else { throw Fallback() }
        return WorkloadObject(document: document, objectAt: start)
    }
}

// MARK: - The pod specs, read leniently

extension WorkloadObject {
    /// The object at `start` (an object), read as ``init(from:)`` decodes it.
    init(document: JSONDocument, objectAt start: Int) {
        var kind: Int?, spec: Int?, ephemeralContainers: Int?, template: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "kind") {
                kind = value
            } else if document.name(at: name, is: "spec") {
                spec = value
            } else if document.name(at: name, is: "ephemeralContainers") {
                ephemeralContainers = value
            } else if document.name(at: name, is: "template") {
                template = value
            }
        }
        self.init()
        if let kind, document.byte(at: kind) == JSONDocument.quote { self.kind = document.decodeString(at: kind) }
        self.spec = document.lenientObject(spec) { SpecFields(document: document, objectAt: $0) }
        self.ephemeralContainers = document.lenientArray(ephemeralContainers) { ContainerList(document: document, arrayAt: $0) }
        self.template = document.lenientObject(template) { TemplateFields(document: document, objectAt: $0) }
        self.references = PodObjectReferences(document: document, objectAt: start)
    }
}

extension SpecFields {
    init(document: JSONDocument, objectAt start: Int) {
        var containers: Int?, initContainers: Int?, ephemeralContainers: Int?, template: Int?, jobTemplate: Int?, volumes: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "containers") {
                containers = value
            } else if document.name(at: name, is: "initContainers") {
                initContainers = value
            } else if document.name(at: name, is: "ephemeralContainers") {
                ephemeralContainers = value
            } else if document.name(at: name, is: "template") {
                template = value
            } else if document.name(at: name, is: "jobTemplate") {
                jobTemplate = value
            } else if document.name(at: name, is: "volumes") {
                volumes = value
            }
        }
        self.init()
        self.containers = document.lenientArray(containers) { ContainerList(document: document, arrayAt: $0) }
        self.initContainers = document.lenientArray(initContainers) { ContainerList(document: document, arrayAt: $0) }
        self.ephemeralContainers = document.lenientArray(ephemeralContainers) { ContainerList(document: document, arrayAt: $0) }
        self.template = document.lenientObject(template) { TemplateFields(document: document, objectAt: $0) }
        self.jobTemplate = document.lenientObject(jobTemplate) { TemplateFields(document: document, objectAt: $0) }
        self.volumes = document.lenientArray(volumes) { VolumeList(document: document, arrayAt: $0) }
    }
}

extension TemplateFields {
    init(document: JSONDocument, objectAt start: Int) {
        var spec: Int?
        document.forEachMember(ofObjectAt: start) { name, value in
            if document.name(at: name, is: "spec") { spec = value }
        }
        self.init()
        self.spec = document.lenientObject(spec) { SpecFields(document: document, objectAt: $0) }
    }
}

extension PodSpecList {
    init(document: JSONDocument, arrayAt start: Int) {
        var entries: [PodSpecEntry<Field>] = []
        var overLimit = false
        document.forEachElement(ofArrayAt: start) { element in
            guard entries.count < Self.maximumEntries else {
                overLimit = true
                return
            }
            entries.append(PodSpecEntry(document: document, valueAt: element))
        }
        self.init(entries: entries, overLimit: overLimit)
    }
}

extension PodSpecEntry {
    /// An entry: anything but an object is `isObject == false` (null included); of an object,
    /// `name` and `image` (the last of each, as the decoder keeps it).
    init(document: JSONDocument, valueAt start: Int) {
        guard document.byte(at: start) == JSONDocument.objectStart else {
            self.init(isObject: false)
            return
        }
        var name: Int?, image: Int?
        document.forEachMember(ofObjectAt: start) { member, value in
            if document.name(at: member, is: "name") {
                name = value
            } else if document.name(at: member, is: "image") {
                image = value
            }
        }
        self.init(isObject: true)
        self.name = document.lenientString(name)
        self.image = Field.read(document, at: image)
    }
}

extension JSONDocument {
    /// `.absent` for a missing or `null` member, the string, or `.malformed` (`a string`).
    func lenientString(_ start: Int?) -> Lenient<String> {
        guard let start, !isNull(at: start) else { return .absent }
        guard byte(at: start) == Self.quote else { return .malformed(expected: "a string") }
        return .value(decodeString(at: start))
    }

    /// `.absent` for a missing or `null` member, `read` of the object, or `.malformed` (`an object`).
    func lenientObject<Value>(_ start: Int?, _ read: (Int) -> Value) -> Lenient<Value> {
        guard let start, !isNull(at: start) else { return .absent }
        guard byte(at: start) == Self.objectStart else { return .malformed(expected: "an object") }
        return .value(read(start))
    }

    /// `.absent` for a missing or `null` member, `read` of the array, or `.malformed` (`an array`).
    func lenientArray<Value>(_ start: Int?, _ read: (Int) -> Value) -> Lenient<Value> {
        guard let start, !isNull(at: start) else { return .absent }
        guard byte(at: start) == Self.arrayStart else { return .malformed(expected: "an array") }
        return .value(read(start))
    }
}
