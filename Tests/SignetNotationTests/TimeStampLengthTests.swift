import CSignetOpenSSL
import Foundation
@testable import SignetCrypto
import SignetTestSupport
import Testing

/// The RFC 3161 shim takes the timestamped data's length as `size_t`, and OpenSSL's memory BIO an
/// `int`. A length that does not fit must be refused: cast, a length whose low 32 bits are -1
/// made `BIO_new_mem_buf` read the data up to its first NUL instead, so a token over those bytes
/// verified for a buffer that claimed 4 GiB.
@Suite struct TimeStampLengthTests {
    @Test func aDataLengthBeyondIntIsRefusedNotCast() async throws {
        let authority = try await offThePool { try TestTimestampAuthority() }
        let data = Array("signet: the bytes a timestamp vouches for".utf8)
        let response = try await offThePool { try authority.response(over: data) }
        let parsed = try TimeStampResponse(derEncoded: response)
        #expect(parsed.verify(data: data, certificates: [], trustAnchors: [authority.root]) == nil)

        let terminated = data + [0]
        var roots: [OpaquePointer?] = [authority.root.handle]
        let time = Int64(parsed.generationTime.timeIntervalSince1970.rounded(.down))
        func verified(claiming length: Int) -> Int32 {
            withExtendedLifetime(authority.root) {
                response.withUnsafeBufferPointer { der in
                    terminated.withUnsafeBufferPointer { bytes in
                        signet_TS_RESP_verify(der.baseAddress, der.count, bytes.baseAddress, length, nil, 0, &roots, 1, nil, time)
                    }
                }
            }
        }
        #expect(verified(claiming: data.count) == 1)
        #expect(verified(claiming: 0xFFFF_FFFF) == 0)
        #expect(verified(claiming: Int(Int32.max) + 1) == 0)
    }
}
