internal import CSignetOpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Text forms of certificate fields for logs.
enum X509Text {
    /// The whole name, however long (never cut short: an allowed name must not match a prefix).
    static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        var capacity = 1024
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let length = buffer.withUnsafeMutableBufferPointer { signet_X509_NAME_to_rfc2253(name, $0.baseAddress, $0.count) }
            if length < capacity { return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
            capacity = length + 1
        }
    }

    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// `ASN1_TIME_to_tm(3)` as seconds since the Unix epoch (UTC; `timegm(3)`).
    static func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        let seconds = timegm(&parts)
        return seconds == -1 ? nil : Int(seconds)
    }

    /// `ASN1_TIME_to_tm(3)` formatted as RFC 3339 UTC.
    static func iso8601(_ time: UnsafePointer<ASN1_TIME>?) -> String? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }
}
