/// Why a Kubernetes API call did not succeed: a struct over a private code, with the API
/// server's `metav1.Status` code and message when it sent one (Kubernetes API conventions,
/// "Response Status Kind").
public struct KubernetesError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case configuration
        case transport
        case status
        case decoding
    }

    let code: Code
    /// The HTTP status or `Status.code`, when the server answered.
    public let statusCode: Int?
    public let message: String
    /// The error answered a list page asked for by a continue token (not the first page).
    var duringContinuation = false
    /// The answer was larger than the client reads (``KubernetesClient``'s response limit).
    var isResponseTooLarge = false

    init(_ code: Code, _ message: String, statusCode: Int? = nil) {
        self.code = code
        self.message = message
        self.statusCode = statusCode
    }

    /// 410 Gone: the resourceVersion asked for is older than the server keeps; relist.
    public var isGone: Bool { statusCode == 410 }
    /// 403 Forbidden: the service account lacks the permission.
    public var isForbidden: Bool { statusCode == 403 }
    /// 404 Not Found.
    public var isNotFound: Bool { statusCode == 404 }
    /// 409 Conflict: the object changed since the resourceVersion a write was based on.
    public var isConflict: Bool { statusCode == 409 }

    /// The same error, marked as the answer to a continued list page.
    func continuing() -> KubernetesError {
        var error = self
        error.duringContinuation = true
        return error
    }

    public var description: String {
        statusCode.map { "\(message) (HTTP \($0))" } ?? message
    }
}
