import Foundation

/// The checks signet makes of its own resources before they are stored (at admission of a
/// `signet.dev` object, Kubernetes "Dynamic Admission Control") and offline (`signet lint`): everything ``PolicyLoader`` checks (strict
/// fields, globs, authority kinds, required expiry), plus the time rules that depend on "now":
///
/// - a `PolicyException` whose `validUntil` is not after now is refused as already expired;
/// - an `EmergencyBypass` whose `expiresAt` is not after now is refused as already expired;
/// - an `EmergencyBypass` whose `expiresAt` lies more than the maximum window ahead is refused.
public struct SignetResourceValidator: Sendable {
    public var configuration: ExemptionConfiguration
    public var loader: PolicyLoader

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

    /// What is valid but likely not meant: a glob that names a tag (`ghcr.io/acme/web:prod-*`),
    /// which signet reads as the repository glob with a tag constraint. One entry per glob.
    public func warnings(_ file: PolicySourceFile) -> [PolicyLoadError] {
        guard let resources = try? loader.loadFile(file) else { return [] }
        var warnings: [PolicyLoadError] = []
        for resource in resources {
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
            if !exception.isActive(at: now) {
                return PolicyLoadError(
                    .invalidField, file: exception.source.file, document: exception.source.document, fieldPath: "spec.validUntil",
                    message: "PolicyException \"\(exception.qualifiedName)\" has already expired (validUntil \(KubernetesTime.format(exception.validUntil)) is not after now, \(KubernetesTime.format(now)))")
            }
        case .bypass(let bypass):
            if now >= bypass.expiresAt {
                return PolicyLoadError(
                    .invalidField, file: bypass.source.file, document: bypass.source.document, fieldPath: "spec.expiresAt",
                    message: "EmergencyBypass \"\(bypass.name)\" has already expired (expiresAt \(KubernetesTime.format(bypass.expiresAt)) is not after now, \(KubernetesTime.format(now)))")
            }
            let window = configuration.maximumBypassWindow
            if bypass.expiresAt.timeIntervalSince(now) > window.timeInterval {
                let latest = now.addingTimeInterval(window.timeInterval)
                return PolicyLoadError(
                    .invalidField, file: bypass.source.file, document: bypass.source.document, fieldPath: "spec.expiresAt",
                    message: "EmergencyBypass \"\(bypass.name)\" expires too late: expiresAt \(KubernetesTime.format(bypass.expiresAt)) is more than the maximum window of \(Self.describe(window)) ahead (latest allowed now: \(KubernetesTime.format(latest)))")
            }
        }
        return nil
    }

    static func describe(_ window: Duration) -> String {
        let seconds = Int(window.components.seconds)
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
