import Foundation
import SignetCrypto
import SignetNotary
import SignetTUF
import SignetTestSupport

/// Helpers shared by the Notary v1 tests: the vector repositories, their root keys, dates.
enum NotaryTest {
    /// `Tests/Vectors/notary/fixtures/compatibility`.
    static let compatibility = TestPaths.vectors.appendingPathComponent("notary/fixtures/compatibility")

    /// The metadata folder of `gun` in the vector made by Notary `version` (`0.1`, `0.3`).
    static func metadata(version: String, gun: String) -> URL {
        compatibility.appendingPathComponent("notary\(version)/tuf/\(gun)/metadata")
    }

    /// The files of a vector repository by role name, as a server serves them.
    static func files(version: String, gun: String, roles: [String]) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for role in roles {
            files[role] = [UInt8](try Data(contentsOf: metadata(version: version, gun: gun).appendingPathComponent("\(role).json")))
        }
        return files
    }

    /// The public key of the certificate root.json's root role lists (what a policy pins).
    static func rootKey(_ rootJSON: [UInt8]) throws -> PublicKey {
        let document = try JSONParser().parse(rootJSON)
        let signed = document["signed"]!
        let rootKeyID = signed["roles"]!["root"]!["keyids"]!.arrayValue![0].stringValue!
        let encoded = signed["keys"]![rootKeyID]!["keyval"]!["public"]!.stringValue!
        let pem = String(decoding: Data(base64Encoded: encoded)!, as: UTF8.self)
        return try Certificate(pemEncoded: pem).publicKey()
    }

    /// A fresh P-256 public key nobody signed anything with.
    static func unrelatedKey() async throws -> PublicKey {
        let directory = TemporaryDirectory(prefix: "signet-notary-key")
        let keyPath = directory.url.appendingPathComponent("k.pem").path
        let publicPath = directory.url.appendingPathComponent("k.pub").path
        _ = try await TestProcess.run("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath])
        _ = try await TestProcess.run("openssl", ["ec", "-in", keyPath, "-pubout", "-out", publicPath])
        return try PublicKey(pem: String(contentsOfFile: publicPath, encoding: .utf8))
    }

    /// `2020-01-01T00:00:00Z`: inside the vectors' validity (their certificates expire in 2026,
    /// their metadata in 2116), pinned so the tests do not depend on today's date.
    static let vectorTime = Date(timeIntervalSince1970: 1_577_836_800)

    /// The PEM of `key`.
    static func pem(_ key: PublicKey) -> String {
        let body = Data(key.subjectPublicKeyInfo).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN PUBLIC KEY-----\n\(body)\n-----END PUBLIC KEY-----\n"
    }
}
