import Foundation
import Yams

/// One signet resource read from a document.
enum LoadedResource: Sendable {
    case policy(CompiledPolicy)
    case exception(CompiledException)
    case bypass(CompiledBypass)
}

extension PolicyLoader {
    private static let exceptionSpecFields: Set<String> = ["policies", "allPolicies", "names", "kinds", "images", "reason", "ticket", "approvedBy", "validUntil"]
    private static let bypassSpecFields: Set<String> = ["namespaces", "allNamespaces", "images", "reason", "requestedBy", "expiresAt"]
    static let topLevelResourceFields: Set<String> = ["apiVersion", "kind", "metadata", "spec", "status"]
    static let selectorFields: Set<String> = ["matchLabels", "matchExpressions"]

    /// Reads a `PolicyException` or `EmergencyBypass` document (strict fields) and compiles it.
    func loadExemption(kind: String, node: Node, mapping: Node.Mapping, at location: PolicySourceLocation) throws(PolicyLoadError) -> LoadedResource {
        let allowedSpec = kind == PolicyException.kind ? Self.exceptionSpecFields : Self.bypassSpecFields
        try Self.checkExemptionKeys(mapping, specFields: allowedSpec, at: location)
        do {
            if kind == PolicyException.kind {
                let exception = try YAMLDecoder().decode(PolicyException.self, from: node)
                return .exception(try compile(exception, source: location))
            } else {
                let bypass = try YAMLDecoder().decode(EmergencyBypass.self, from: node)
                return .bypass(try compile(bypass, source: location))
            }
        } catch let error as PolicyLoadError {
            throw error
        } catch let error as DecodingError {
            let (path, message) = Self.describe(decodingError: error)
            throw PolicyLoadError(.invalidField, file: location.file, document: location.document, fieldPath: path, message: message)
        } catch {
            throw PolicyLoadError(.invalidField, file: location.file, document: location.document, message: "\(error)")
        }
    }

    private static func checkExemptionKeys(_ root: Node.Mapping, specFields: Set<String>, at location: PolicySourceLocation) throws(PolicyLoadError) {
        func check(_ mapping: Node.Mapping, _ allowed: Set<String>, _ path: String) throws(PolicyLoadError) {
            for key in mapping.keys {
                let name = key.string ?? "\(key)"
                guard allowed.contains(name) else {
                    throw PolicyLoadError(
                        .invalidField, file: location.file, document: location.document,
                        fieldPath: path.isEmpty ? name : "\(path).\(name)",
                        message: "unknown field \"\(name)\" (expected one of \(allowed.sorted().joined(separator: ", ")))")
                }
            }
        }
        try check(root, topLevelResourceFields, "")
        guard let spec = root.first(where: { $0.key.string == "spec" })?.value.mapping else { return }
        try check(spec, specFields, "spec")
        if let images = spec.first(where: { $0.key.string == "images" })?.value.sequence {
            for (index, image) in images.enumerated() {
                if let entry = image.mapping { try check(entry, Self.imageFields, "spec.images[\(index)]") }
            }
        }
    }

    /// Validates `exception` and compiles it. Time-independent checks only: whether it has
    /// expired is decided by ``SignetResourceValidator`` and, at each admission, by the evaluator.
    public func compile(_ exception: PolicyException, source: PolicySourceLocation) throws(PolicyLoadError) -> CompiledException {
        func invalid(_ path: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: path, message: message)
        }
        let spec = exception.spec
        let name = exception.metadata.name
        guard Self.isValidResourceName(name) else {
            throw invalid("metadata.name", "\"\(name)\" is not a valid resource name (lowercase letters, digits, '-' and '.', at most 253 characters)")
        }
        guard let namespace = exception.metadata.namespace, !namespace.isEmpty else {
            throw invalid("metadata.namespace", "a PolicyException is namespaced: metadata.namespace is required (it applies only in its own namespace)")
        }
        let validUntil = try Self.expiry(spec.validUntil, field: "spec.validUntil", what: "a PolicyException", invalid: invalid)
        guard let reason = spec.reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw invalid("spec.reason", "a PolicyException needs a reason")
        }
        guard let approvedBy = spec.approvedBy, !approvedBy.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw invalid("spec.approvedBy", "a PolicyException needs approvedBy (who approved it)")
        }
        try Self.checkCount(spec.names, at: "spec.names", limit: ExemptionLimits.names, invalid: invalid)
        try Self.checkCount(spec.images, at: "spec.images", limit: ExemptionLimits.images, invalid: invalid)
        try Self.checkCount(spec.policies, at: "spec.policies", limit: ExemptionLimits.policies, invalid: invalid)
        try Self.checkCount(spec.kinds, at: "spec.kinds", limit: ExemptionLimits.kinds, invalid: invalid)
        try Self.checkNotEmpty(spec.names, at: "spec.names", every: "name", invalid: invalid)
        try Self.checkNotEmpty(spec.images, at: "spec.images", every: "image", invalid: invalid)
        try Self.checkNotEmpty(spec.kinds, at: "spec.kinds", every: "kind", invalid: invalid)
        var names: [NameGlob] = []
        for (index, pattern) in (spec.names ?? []).enumerated() {
            do { names.append(try NameGlob(pattern)) } catch { throw invalid("spec.names[\(index)]", "invalid name glob \"\(pattern)\": \(error.reason)") }
        }
        let images = try Self.compileGlobs(spec.images, invalid: invalid)
        for (index, policy) in (spec.policies ?? []).enumerated() where !Self.isValidResourceName(policy) {
            throw invalid("spec.policies[\(index)]", "\"\(policy)\" is not a valid ClusterImagePolicy name")
        }
        for (index, kind) in (spec.kinds ?? []).enumerated() where kind.isEmpty {
            throw invalid("spec.kinds[\(index)]", "kind must not be empty")
        }
        let all = spec.allPolicies ?? false
        let listed = spec.policies ?? []
        if all && !listed.isEmpty {
            throw invalid("spec.policies", "set either policies or allPolicies: true, not both")
        }
        if !all && listed.isEmpty {
            throw invalid("spec.policies", "a PolicyException must name the policies it exempts from (at least one), or say allPolicies: true")
        }
        let policies: Set<String>? = all ? nil : Set(listed)
        let createdAt = try Self.creationTime(exception.metadata, invalid: invalid)
        let kinds = spec.kinds.map { Set($0) }
        return CompiledException(
            name: name, namespace: namespace, policies: policies, names: names, kinds: kinds, images: images,
            validUntil: validUntil, createdAt: createdAt, reason: reason, ticket: spec.ticket, approvedBy: approvedBy, source: source, definition: exception)
    }

    /// Validates `bypass` and compiles it (time-independent checks only; see ``SignetResourceValidator``).
    public func compile(_ bypass: EmergencyBypass, source: PolicySourceLocation) throws(PolicyLoadError) -> CompiledBypass {
        func invalid(_ path: String, _ message: String) -> PolicyLoadError {
            PolicyLoadError(.invalidField, file: source.file, document: source.document, fieldPath: path, message: message)
        }
        let spec = bypass.spec
        try Self.checkCount(spec.images, at: "spec.images", limit: ExemptionLimits.images, invalid: invalid)
        try Self.checkCount(spec.namespaces, at: "spec.namespaces", limit: ExemptionLimits.namespaces, invalid: invalid)
        try Self.checkNotEmpty(spec.images, at: "spec.images", every: "image", invalid: invalid)
        let name = bypass.metadata.name
        guard Self.isValidResourceName(name) else {
            throw invalid("metadata.name", "\"\(name)\" is not a valid resource name (lowercase letters, digits, '-' and '.', at most 253 characters)")
        }
        let expiresAt = try Self.expiry(spec.expiresAt, field: "spec.expiresAt", what: "an EmergencyBypass", invalid: invalid)
        let all = spec.allNamespaces ?? false
        let listed = spec.namespaces ?? []
        if all && !listed.isEmpty {
            throw invalid("spec.namespaces", "set either namespaces or allNamespaces: true, not both")
        }
        if !all && listed.isEmpty {
            throw invalid("spec.namespaces", "an EmergencyBypass needs namespaces, or allNamespaces: true")
        }
        for (index, namespace) in listed.enumerated() where !Self.isValidResourceName(namespace) || namespace.contains(".") {
            throw invalid("spec.namespaces[\(index)]", "\"\(namespace)\" is not a valid namespace name")
        }
        guard let reason = spec.reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw invalid("spec.reason", "an EmergencyBypass needs a reason")
        }
        guard let requestedBy = spec.requestedBy, !requestedBy.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw invalid("spec.requestedBy", "an EmergencyBypass needs requestedBy (who asked for it)")
        }
        let images = try Self.compileGlobs(spec.images, invalid: invalid)
        let createdAt = try Self.creationTime(bypass.metadata, invalid: invalid)
        return CompiledBypass(
            name: name, namespaces: all ? nil : Set(listed), images: images, expiresAt: expiresAt, createdAt: createdAt, reason: reason,
            requestedBy: requestedBy, source: source, definition: bypass)
    }

    /// `metadata.creationTimestamp`, when the object has one (objects read from the cluster).
    /// Refuses a list longer than the CRD allows (`maxItems`), for objects the CRD did not check
    /// (a policy directory, objects stored before the limit): each entry is compiled and kept in
    /// memory by every replica.
    private static func checkCount<Element>(
        _ list: [Element]?, at path: String, limit: Int, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) {
        guard let list, list.count > limit else { return }
        throw invalid(path, "\(list.count) entries, more than the \(limit) allowed")
    }

    /// Refuses an empty list where leaving the field out means "every": `images: []` is what a
    /// template renders from an empty list of values, and taken as absent it would exempt every
    /// image (the CRDs say `minItems: 1` for the same reason).
    private static func checkNotEmpty<Element>(
        _ list: [Element]?, at path: String, every: String, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) {
        guard let list, list.isEmpty else { return }
        throw invalid(path, "an empty list is refused: leave \(path.split(separator: ".").last!) out to mean every \(every), or list at least one")
    }

    private static func creationTime(_ metadata: ResourceMetadata, invalid: (String, String) -> PolicyLoadError) throws(PolicyLoadError) -> Date? {
        guard let text = metadata.creationTimestamp, !text.isEmpty else { return nil }
        guard let date = KubernetesTime.parse(text) else {
            throw invalid("metadata.creationTimestamp", "\"\(text)\" is not an RFC 3339 time")
        }
        return date
    }

    private static func expiry(
        _ text: String?, field: String, what: String, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> Date {
        guard let text, !text.isEmpty else {
            throw invalid(field, "\(what) must expire: \(field.split(separator: ".").last!) is required (an RFC 3339 time such as 2026-12-01T00:00:00Z)")
        }
        guard let date = KubernetesTime.parse(text) else {
            throw invalid(field, "\"\(text)\" is not an RFC 3339 time (for example 2026-12-01T00:00:00Z)")
        }
        return date
    }

    private static func compileGlobs(
        _ patterns: [ClusterImagePolicy.ImagePattern]?, invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> [ImageGlob] {
        var globs: [ImageGlob] = []
        for (index, pattern) in (patterns ?? []).enumerated() {
            do { globs.append(try ImageGlob(pattern.glob, tags: pattern.tags)) } catch { throw invalid("spec.images[\(index)].glob", error.description) }
        }
        return globs
    }
}

/// The most entries a PolicyException or EmergencyBypass list may hold, as the CRDs' `maxItems`
/// say: every replica compiles and keeps every entry, so a tenant's exception must not be able
/// to fill a replica's memory.
public enum ExemptionLimits {
    /// How far a `creationTimestamp` may lie after the time it is judged at: the API server's clock
    /// and a replica's disagree a little. One further ahead (an object from a policy directory
    /// that says it was made in 2099) is refused: its window would otherwise be measured from a
    /// time of its own choosing, and it would apply now.
    public static let creationClockSkew: TimeInterval = 300

    static let names = 256
    static let images = 256
    static let policies = 256
    static let kinds = 64
    static let namespaces = 1024

    /// How many PolicyExceptions one namespace holds at most (expired ones and those that do not
    /// compile included: every replica keeps them), and how many bytes they take together, each
    /// the object as JSON (labels and annotations count as the spec does: every replica keeps
    /// them all; ``measuredBytes(_:)``). Whoever may write exceptions in a namespace
    /// could otherwise make hundreds of objects near the API server's 1.5 MiB each, in their spec
    /// or in a thousand labels; an exception is one to a few kilobytes, so the bytes bound what
    /// is kept and the count is far above what a team writes.
    public static let exceptionsPerNamespace = 256
    public static let exceptionBytesPerNamespace = 1 << 20

    /// What a namespace's exceptions within its budget take.
    public struct NamespaceUsage: Sendable, Equatable {
        public var count = 0
        public var bytes = 0
        /// The bytes of each exception counted, by name.
        public var sizes: [String: Int] = [:]

        public init(count: Int = 0, bytes: Int = 0, sizes: [String: Int] = [:]) {
            self.count = count
            self.bytes = bytes
            self.sizes = sizes
        }

        /// Counts the exception `name` of `bytes`.
        public mutating func add(_ name: String, bytes: Int) {
            count += 1
            self.bytes += bytes
            sizes[name] = bytes
        }

        /// Gives back the room of the exception `name`, if it was counted.
        public mutating func remove(_ name: String) {
            guard let size = sizes.removeValue(forKey: name) else { return }
            count -= 1
            bytes -= size
        }
    }

    /// What an exception takes of its namespace's budget: the object as JSON without what the
    /// webhook cannot see when it is made, or what signet and the API server write afterwards
    /// (`status`, `metadata.managedFields`, `metadata.resourceVersion`), so that the webhook and
    /// the policy source measure the same bytes: labels, annotations and the spec.
    public static func measuredBytes(_ object: [String: Any]) -> Int {
        var object = object
        object["status"] = nil
        if var metadata = object["metadata"] as? [String: Any] {
            metadata["managedFields"] = nil
            metadata["resourceVersion"] = nil
            object["metadata"] = metadata
        }
        return (try? JSONSerialization.data(withJSONObject: object))?.count ?? 0
    }

    /// A spec as canonical JSON (sorted keys): what the policy revision hashes.
    public static func specJSON(_ spec: Any?) -> Data? {
        spec.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
    }

    /// Why one more exception of `bytes` does not fit beside `usage` in `namespace`; nil when it fits.
    public static func namespaceBudgetRefusal(adding bytes: Int, to usage: NamespaceUsage, namespace: String) -> String? {
        if usage.count + 1 > exceptionsPerNamespace {
            return "namespace \"\(namespace)\" already holds \(usage.count) PolicyExceptions (expired ones included), the most one namespace may hold (\(exceptionsPerNamespace)); delete the expired ones"
        }
        if usage.bytes + bytes > exceptionBytesPerNamespace {
            return "namespace \"\(namespace)\"'s PolicyExceptions (expired ones included) take \(usage.bytes) bytes, and this one \(bytes) more (whole objects, labels and annotations included): one namespace's may take at most \(exceptionBytesPerNamespace); delete the expired ones"
        }
        return nil
    }
}
