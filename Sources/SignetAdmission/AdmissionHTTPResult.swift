/// What the `/validate` endpoint answers: an HTTP status, a content type and a body.
///
/// Per Kubernetes "Dynamic Admission Control", a decision (allow or deny) is always HTTP 200
/// with an `AdmissionReview` JSON body; a request that is not a usable `AdmissionReview` gets
/// HTTP 400 with a plain-text reason (the API server then applies the webhook's
/// `failurePolicy`).
public struct AdmissionHTTPResult: Sendable, Hashable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    static func badRequest(_ message: String) -> AdmissionHTTPResult {
        AdmissionHTTPResult(status: 400, contentType: "text/plain; charset=utf-8", body: Array((message + "\n").utf8))
    }
}
