/// Gathers the exceptions and bypasses of one load, refusing duplicate names (a namespace/name
/// for exceptions, a name for bypasses), as the API server would.
struct ExemptionCollector {
    private(set) var exceptions: [CompiledException] = []
    private(set) var bypasses: [CompiledBypass] = []
    private var seenExceptions: [String: PolicySourceLocation] = [:]
    private var seenBypasses: [String: PolicySourceLocation] = [:]

    mutating func add(_ resource: LoadedResource) throws(PolicyLoadError) {
        switch resource {
        case .policy:
            break
        case .exception(let exception):
            if let first = seenExceptions[exception.qualifiedName] {
                throw PolicyLoadError(
                    .duplicateName, file: exception.source.file, document: exception.source.document, fieldPath: "metadata.name",
                    message: "PolicyException \"\(exception.qualifiedName)\" is already defined in \(first)")
            }
            seenExceptions[exception.qualifiedName] = exception.source
            exceptions.append(exception)
        case .bypass(let bypass):
            if let first = seenBypasses[bypass.name] {
                throw PolicyLoadError(
                    .duplicateName, file: bypass.source.file, document: bypass.source.document, fieldPath: "metadata.name",
                    message: "EmergencyBypass \"\(bypass.name)\" is already defined in \(first)")
            }
            seenBypasses[bypass.name] = bypass.source
            bypasses.append(bypass)
        }
    }
}
