import ArgumentParser
import Foundation
import SignetAttestation
import SignetPolicy
import SignetVerify
import Yams

extension VerifyCommand {
    /// The `attestations` authority `--attestation` and `--condition` describe: one required
    /// attestation per type, each signed by `signer` (the `key` or `keyless` authority the
    /// other flags made), compiled by the policy loader as a policy's would be.
    func attestationAuthority(signer: ClusterImagePolicy.Authority) throws -> ClusterImagePolicy.Authority {
        let signerField: (String, PolicyValue)
        do {
            if let key = signer.key {
                signerField = ("key", try JSONDecoder().decode(PolicyValue.self, from: JSONEncoder().encode(key)))
            } else if let keyless = signer.keyless {
                signerField = ("keyless", try JSONDecoder().decode(PolicyValue.self, from: JSONEncoder().encode(keyless)))
            } else {
                throw ValidationError("--attestation is signed by --key or a keyless identity")
            }
        } catch let error as ValidationError {
            throw failure(error.message)
        } catch {
            throw failure("\(error)")
        }
        var conditions: [PolicyValue] = []
        for text in condition {
            do {
                conditions.append(try YAMLDecoder().decode(PolicyValue.self, from: text))
            } catch {
                throw failure("--condition \(text) is not a YAML or JSON condition: \(error)")
            }
        }
        let required: [PolicyValue] = attestation.map { type in
            var entry: [String: PolicyValue] = ["predicateType": .string(type), signerField.0: signerField.1]
            if !conditions.isEmpty { entry["conditions"] = .array(conditions) }
            return .object(entry)
        }
        return .init(name: "attestations", attestations: .object(["require": .array(required)]))
    }

    /// Each verified attestation: where it was found, its statement's subject, its signer, the
    /// predicate fields its requirement's conditions read, and each condition's outcome at `now`.
    static func renderAttestations(_ result: VerificationResult, trust: CompiledAttestationAuthority, now: Date) -> String {
        var lines: [String] = []
        let attestations = result.attestations ?? []
        for requirement in trust.requirements {
            let found = attestations.filter { $0.requirement == requirement.name }
            if found.isEmpty {
                lines.append("attestation \(requirement.name) (\(requirement.predicateType)): none verified, signed by \(requirement.signer.description)")
            }
            for attestation in found {
                lines.append("attestation \(requirement.name) (\(attestation.predicateType)): \(attestation.source)")
                lines.append("  statement: \(attestation.statementType), subject " + attestation.subjects.joined(separator: ", "))
                lines.append("  signed by: " + attestation.signers.joined(separator: ", "))
                for (path, values) in attestation.fields.values.sorted(by: { $0.key < $1.key }) {
                    lines.append("  field \(path): " + (values.isEmpty ? "absent" : values.map(\.description).joined(separator: ", ")))
                }
                for overflowing in attestation.fields.overflowing.sorted() {
                    lines.append("  field \(overflowing): more than \(PredicatePath.maximumValues) values")
                }
                for condition in requirement.conditions {
                    if let why = condition.failure(in: attestation.fields, now: now) {
                        lines.append("  [NOT MET] \(render(condition)): \(why)")
                    } else {
                        lines.append("  [met] \(render(condition))")
                    }
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A condition as one line: `runDetails.builder.id equals https://...`, groups in brackets.
    static func render(_ condition: AttestationCondition) -> String {
        switch condition {
        case .check(let path, let op, let value, let every): "\(every ? "every " : "")\(path) \(op.rawValue) \(render(value))"
        case .allOf(let conditions): "allOf [" + conditions.map(render).joined(separator: "; ") + "]"
        case .anyOf(let conditions): "anyOf [" + conditions.map(render).joined(separator: "; ") + "]"
        }
    }

    private static func render(_ value: AttestationValue) -> String {
        switch value {
        case .array(let values): "[" + values.map(render).joined(separator: ", ") + "]"
        default: value.scalar.description
        }
    }

    private func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet verify: \(message)\n".utf8))
        return ExitCode(2)
    }
}
