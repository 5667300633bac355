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

    static func duration(_ flag: String?, _ variable: String, default fallback: Duration) throws -> Duration {
        guard let text = string(flag, variable) else { return fallback }
        guard let value = GoDuration.parse(text) else {
            throw ValidationError("\(text) is not a duration (examples: 10s, 500ms, 2m)")
        }
        return value
    }
}
