import Foundation

/// One review posted to `signet serve` while a peer it depends on fails, with the API server's
/// deadline (`?timeout=`): what came back, and how long it took (recorded for `make harden`,
/// never asserted).
public struct FaultReview: Sendable {
    public var httpStatus: Int
    public var answer: AdmissionAnswer?
    public var stderr: String
    public var seconds: Double

    /// Posts `file` and records the outcome as `faults-<peer>-<fault>`.
    public static func post(
        _ file: String, to server: SignetServerFixture, timeoutSeconds: Int, peer: String, fault: String
    ) async throws -> FaultReview {
        let started = ContinuousClock.now
        let result = try await server.curl([
            "-sS", "-H", "Content-Type: application/json", "--data-binary", "@\(file)",
            "-w", "\n%{http_code}", "\(server.baseURL)/validate?timeout=\(timeoutSeconds)s",
        ])
        let elapsed = ContinuousClock.now - started
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let review = FaultReview(
            httpStatus: Int(lines.last ?? "") ?? 0, answer: try? AdmissionAnswer(decoding: lines.dropLast().joined(separator: "\n")),
            stderr: result.stderr,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        HardenReport.write(part: "faults", name: "\(peer)-\(fault)", [
            "peer": peer, "fault": fault, "httpStatus": review.httpStatus, "allowed": review.answer?.allowed ?? false,
            "answered": review.answer != nil, "reason": review.answer?.message ?? result.stderr,
            "seconds": review.seconds, "deadlineSeconds": timeoutSeconds,
        ])
        return review
    }
}
