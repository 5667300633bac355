import Foundation
import SignetJSON

/// Reads the JSON a Notary Project signature carries (the JWS envelope, its protected header,
/// the signed payload) with Foundation's `JSONSerialization`, behind `UntrustedJSON`'s gate with
/// its limits for documents read whole (`UntrustedJSON.Limits.smallObject`): at most
/// ``maximumContainers`` objects and arrays and ``maximumValues`` values, in UTF-8.
///
/// These documents come from a registry and are read before the signature is verified.
/// `JSONSerialization` builds every object and array, reserving room in each: an envelope of
/// 1 MiB made of tiny objects grew to half a gigabyte. Signatures hold a few dozen at most.
enum NotationJSON {
    static let limits = UntrustedJSON.Limits.smallObject
    static let maximumContainers = limits.containers
    static let maximumValues = limits.values

    /// What a document must be, for messages.
    static let expected = "a JSON object in UTF-8 of at most \(maximumContainers) objects and arrays and \(maximumValues) values"

    /// The JSON object `bytes` hold, or nil when they hold something else, are not JSON in
    /// UTF-8, or exceed the bounds.
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        (try? UntrustedJSON.object(bytes, limits: limits)) as? [String: Any]
    }
}
