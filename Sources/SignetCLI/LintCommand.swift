import ArgumentParser
import Foundation
import Logging
import SignetPolicy

/// `signet lint PATH...`: the checks signet makes of its own resources at admission, offline —
/// strict fields, globs, authority kinds, required expiry, already-expired exceptions and
/// bypasses, bypasses beyond the maximum window, duplicate names; and warnings (which leave the
/// exit status alone) for globs that name a tag.
///
/// Exit status: 0 every file valid, 1 problems found (one line each, naming file, document and
/// field), 2 a path cannot be read.
struct LintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check ClusterImagePolicy, PolicyException and EmergencyBypass files as the webhook would at admission.",
        discussion: "Exit status: 0 valid, 1 problems found, 2 a path cannot be read."
    )

    @Argument(help: "Policy directories or files (YAML, several documents allowed).")
    var paths: [String]

    @OptionGroup var exemptions: ExemptionOptions

    func run() throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        let validator = SignetResourceValidator(configuration: try exemptions.configuration())
        var problems: [PolicyLoadError] = []
        var warnings: [PolicyLoadError] = []
        var checked = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("signet lint: \(path): no such file or directory\n".utf8))
                throw ExitCode(2)
            }
            if isDirectory.boolValue {
                let files = (try? PolicyLoader.readDirectory(path)) ?? []
                checked += files.count
                warnings += files.flatMap { validator.warnings($0) }
                problems += validator.validate(directory: path)
            } else {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("signet lint: \(path): cannot read the file\n".utf8))
                    throw ExitCode(2)
                }
                checked += 1
                let file = PolicySourceFile(name: path, bytes: Array(data))
                warnings += validator.warnings(file)
                problems += validator.validate(file)
            }
        }
        for warning in warnings { print("warning: \(warning.description)") }
        if problems.isEmpty {
            print("ok: \(checked) file\(checked == 1 ? "" : "s") valid")
            return
        }
        for problem in problems { print(problem.description) }
        throw ExitCode(1)
    }
}
