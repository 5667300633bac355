import Foundation
import SignetJSON

/// An AdmissionReview read whole into Foundation's objects, for the few reviews signet reads so
/// (a Namespace's labels, its own resources' specs and attribution): every other review is read
/// lazily (``LazyJSONDecoder``). The body passes ``UntrustedJSON`` first, with its
/// ``UntrustedJSON/Limits/admissionReview`` limits: anyone who reaches the webhook can post a
/// review, and `JSONSerialization` builds every object of it.
enum AdmissionReviewObject {
    /// `request` of the review in `body`; why it could not be read otherwise.
    static func request(in body: [UInt8]) -> Result<[String: Any], Problem> {
        let review: Any
        do {
            review = try UntrustedJSON.object(body, limits: .admissionReview)
        } catch let refusal as UntrustedJSON.Refusal {
            return .failure(Problem(message: "the review was refused unread: \(refusal)"))
        } catch {
            return .failure(Problem(message: "the review is not JSON"))
        }
        guard let request = (review as? [String: Any])?["request"] as? [String: Any] else {
            return .failure(Problem(message: "the review has no request"))
        }
        return .success(request)
    }

    struct Problem: Error {
        var message: String
    }
}
