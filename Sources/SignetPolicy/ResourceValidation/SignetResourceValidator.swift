import Foundation
import SignetNotation

/// The checks signet makes of its own resources before they are stored (at admission of a
/// `signet.dev` object, Kubernetes "Dynamic Admission Control") and offline (`signet lint`): everything ``PolicyLoader`` checks (strict
/// fields, globs, authority kinds, required expiry), plus the time rules that depend on "now":
///
/// - a `PolicyException` whose `validUntil` is not after now is refused as already expired;
/// - a `PolicyException` whose `validUntil` lies more than the maximum exception window after its
///   `creationTimestamp` (after now when it has none, as in a file) is refused;
/// - an `EmergencyBypass` whose `expiresAt` is not after now is refused as already expired;
/// - an `EmergencyBypass` whose `expiresAt` lies more than the maximum bypass window after its
///   `creationTimestamp` (or now) is refused.
///
/// Windows are measured from the creation time so that updating an object cannot extend it
/// (issue 16, "Bounded"); the evaluator applies the same rule, so an object stored around this
/// validation is never in force.
public struct SignetResourceValidator: Sendable {
    public var configuration: ExemptionConfiguration
    public var loader: PolicyLoader
    /// The namespace labels signet guards (`--guarded-namespace-labels`) where it enforces
    /// policies from the cluster; `nil` where that is not known (`signet lint` without the
    /// option), and no warning is given about selectors.
    public var guardedNamespaceLabels: Set<String>?

    /// `loader` defaults to one that checks `secretRef` keys for shape only: the Secret is read
    /// where the policy is enforced, not where it is validated.
    public init(configuration: ExemptionConfiguration = ExemptionConfiguration(), loader: PolicyLoader = .shapeOnly) {
        self.configuration = configuration
        self.loader = loader
    }

    /// Validates every resource of `file`; returns the problems found (empty when valid).
    /// A load error stops at the first problem of the file; the time rules report every resource.
    public func validate(_ file: PolicySourceFile) -> [PolicyLoadError] {
        let resources: [LoadedResource]
        do {
            resources = try loader.loadFile(file)
        } catch {
            return [error]
        }
        let now = configuration.clock.now()
        return resources.compactMap { problem(with: $0, at: now) }
    }

    /// What is valid but likely not meant:
    /// - a glob that names a tag (`ghcr.io/acme/web:prod-*`), which signet reads as the
    ///   repository glob with a tag constraint; one entry per glob;
    /// - with ``guardedNamespaceLabels`` known, an `Enforce` policy whose `namespaceSelector`
    ///   reads a label signet does not guard; one entry per label;
    /// - an `Enforce` policy whose `kinds` leaves out `Pod`: a Pod created directly, or by a
    ///   controller whose kind is not listed, runs the images it covers without its check;
    /// - an `Enforce` policy with a `notation` authority whose trust policy has a statement that
    ///   does not enforce authenticity (level `audit`, or an override that logs or skips it):
    ///   any well-formed Notation signature over an image's digest passes it, whoever made it;
    ///   or a statement at level `skip`, which passes the images of its scopes unsigned (the
    ///   Notary Project trust store and trust policy specification, "Signature Verification").
    public func warnings(_ file: PolicySourceFile) -> [PolicyLoadError] {
        guard let resources = try? loader.loadFile(file) else { return [] }
        var warnings: [PolicyLoadError] = []
        for resource in resources {
            if case .policy(let policy) = resource, policy.mode == .enforce, let kinds = policy.definition.spec.kinds,
               !kinds.isEmpty, !kinds.contains("Pod") {
                warnings.append(PolicyLoadError(
                    .invalidField, file: policy.source.file, document: policy.source.document, fieldPath: "spec.kinds",
                    message: "leaves out Pod: this policy checks its images only in \(kinds.joined(separator: ", ")) objects, so a Pod created directly (or by a controller of another kind) runs them without this check, and so do the Pods those objects create, which are judged when the object is created or changed; add Pod to kinds unless another Enforce policy covers these images in Pods"))
            }
            if case .policy(let policy) = resource {
                warnings += policy.notationStatementWarnings.map {
                    PolicyLoadError(.invalidField, file: policy.source.file, document: policy.source.document, fieldPath: $0.fieldPath, message: $0.message)
                }
            }
            if case .policy(let policy) = resource, let guarded = guardedNamespaceLabels {
                for label in policy.unguardedSelectorLabels(guarded: guarded) {
                    warnings.append(PolicyLoadError(
                        .invalidField, file: policy.source.file, document: policy.source.document, fieldPath: "spec.namespaceSelector",
                        message: "reads namespace label \"\(label)\", which signet does not guard: whoever may update a Namespace can change it and take the namespace out of this Enforce policy; add it to --guarded-namespace-labels (the chart's webhook.guardedNamespaceLabels), or select by kubernetes.io/metadata.name"))
                }
            }
            let (images, source): ([ImageGlob], PolicySourceLocation) =
                switch resource {
                case .policy(let policy): (policy.images, policy.source)
                case .exception(let exception): (exception.images, exception.source)
                case .bypass(let bypass): (bypass.images, bypass.source)
                }
            for (index, glob) in images.enumerated() where glob.tagWrittenInGlob {
                let repository = glob.pattern[..<(glob.pattern.lastIndex(of: ":") ?? glob.pattern.endIndex)]
                let tags = glob.tags?.map(\.pattern).joined(separator: ", ") ?? ""
                warnings.append(PolicyLoadError(
                    .invalidField, file: source.file, document: source.document, fieldPath: "spec.images[\(index)].glob",
                    message: "glob \"\(glob.pattern)\" names a tag; globs match the repository only, so it is read as glob \"\(repository)\" with tags [\(tags)] (an image by digest alone is covered by a policy, never exempted): write that explicitly"))
            }
        }
        return warnings
    }

    /// Validates every file of `directory`, and the names across files; returns the problems.
    public func validate(directory: String) -> [PolicyLoadError] {
        let files: [PolicySourceFile]
        do {
            files = try PolicyLoader.readDirectory(directory)
        } catch {
            return [error]
        }
        var problems = files.flatMap { validate($0) }
        if problems.isEmpty {
            do { _ = try loader.load(files: files) } catch { problems.append(error) }
        }
        return problems
    }

    private func problem(with resource: LoadedResource, at now: Date) -> PolicyLoadError? {
        switch resource {
        case .policy:
            return nil
        case .exception(let exception):
            if now >= exception.validUntil {
                return PolicyLoadError(
                    .invalidField, file: exception.source.file, document: exception.source.document, fieldPath: "spec.validUntil",
                    message: "PolicyException \"\(exception.qualifiedName)\" has already expired (validUntil \(KubernetesTime.format(exception.validUntil)) is not after now, \(KubernetesTime.format(now)))")
            }
            let window = configuration.maximumExceptionWindow
            if exception.exceedsWindow(window, now: now) {
                return windowProblem(
                    "PolicyException \"\(exception.qualifiedName)\"", field: "spec.validUntil", end: exception.validUntil,
                    createdAt: exception.createdAt, now: now, window: window, flag: "--max-exception-window", source: exception.source)
            }
        case .bypass(let bypass):
            if now >= bypass.expiresAt {
                return PolicyLoadError(
                    .invalidField, file: bypass.source.file, document: bypass.source.document, fieldPath: "spec.expiresAt",
                    message: "EmergencyBypass \"\(bypass.name)\" has already expired (expiresAt \(KubernetesTime.format(bypass.expiresAt)) is not after now, \(KubernetesTime.format(now)))")
            }
            let window = configuration.maximumBypassWindow
            if bypass.exceedsWindow(window, now: now) {
                return windowProblem(
                    "EmergencyBypass \"\(bypass.name)\"", field: "spec.expiresAt", end: bypass.expiresAt,
                    createdAt: bypass.createdAt, now: now, window: window, flag: "--max-bypass-window", source: bypass.source)
            }
        }
        return nil
    }

    /// `EmergencyBypass "x" expires too late: expiresAt … is more than the maximum window of 24h
    /// after its creation (…) (latest allowed: …)`.
    private func windowProblem(
        _ label: String, field: String, end: Date, createdAt: Date?, now: Date, window: Duration, flag: String,
        source: PolicySourceLocation
    ) -> PolicyLoadError {
        if let createdAt, createdAt.timeIntervalSince(now) > ExemptionLimits.creationClockSkew {
            return PolicyLoadError(
                .invalidField, file: source.file, document: source.document, fieldPath: "metadata.creationTimestamp",
                message: "\(label) says it was created at \(KubernetesTime.format(createdAt)), after now (\(KubernetesTime.format(now))): its window (\(flag)) is measured from its creation, which cannot lie ahead")
        }
        let start = createdAt ?? now
        let from = createdAt.map { "its creation (creationTimestamp \(KubernetesTime.format($0)))" } ?? "now (\(KubernetesTime.format(now)))"
        let latest = start.addingTimeInterval(window.timeInterval)
        let name = String(field.split(separator: ".").last!)
        return PolicyLoadError(
            .invalidField, file: source.file, document: source.document, fieldPath: field,
            message: "\(label) expires too late: \(name) \(KubernetesTime.format(end)) is more than the maximum window of \(Self.describe(window)) (\(flag)) after \(from); the latest allowed is \(KubernetesTime.format(latest))")
    }

    /// `24h`, `90m`, `90d`: a window as the flags write it.
    public static func describe(_ window: Duration) -> String {
        let seconds = Int(window.components.seconds)
        if seconds % 86400 == 0 && seconds >= 2 * 86400 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

extension PolicyLoader {
    /// A loader that does not require `secretRef` keys to be readable.
    public static var shapeOnly: PolicyLoader {
        var loader = PolicyLoader()
        loader.requireSecretReferences = false
        return loader
    }
}
