import ArgumentParser
import Foundation

/// Flags with environment-variable twins: a flag on the command line wins, then the variable,
/// then the documented default. Helm charts and plain manifests set the variables.
enum EnvironmentOption {
    static func string(_ flag: String?, _ variable: String, default fallback: String? = nil) -> String? {
        if let flag { return flag }
        if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return value }
        return fallback
    }

    static func int(_ flag: Int?, _ variable: String, default fallback: Int) throws -> Int {
        if let flag { return flag }
        guard let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty else { return fallback }
        guard let value = Int(text) else { throw ValidationError("\(variable)=\(text) is not a whole number") }
        return value
    }

    /// A repeatable flag whose values may also be comma-separated; the variable is comma-separated.
    /// Blank entries are dropped.
    static func list(_ flag: [String], _ variable: String) -> [String] {
        let values = flag.isEmpty ? [string(nil, variable) ?? ""] : flag
        return values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func duration(_ flag: String?, _ variable: String, default fallback: Duration, maximumSeconds: Double = 86_400) throws -> Duration {
        guard let text = string(flag, variable) else { return fallback }
        guard let value = GoDuration.parse(text, maximumSeconds: maximumSeconds) else {
            throw ValidationError("\(text) is not a duration (examples: 10s, 500ms, 2m)")
        }
        return value
    }
}
