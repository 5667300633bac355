#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Serialises responses to HTTP/1.1 bytes.
///
/// RFC 9112 §4 (status line), §5 (field lines), §6.2 (Content-Length) and §9.6 (closing). The
/// status line always says `HTTP/1.1`, also to an HTTP/1.0 client (RFC 9110 §6.2: a server sends
/// the highest minor version it conforms to within the client's major version).
public enum HTTPResponseEncoder {
    /// Serialises `response`: status line, header fields, framing fields, empty line, body.
    ///
    /// The encoder owns the framing: `Content-Length`, `Transfer-Encoding` and `Connection` in
    /// `response.headers` are dropped and replaced by
    /// - `Content-Length` with the body's size, except for 1xx and 204, which carry neither a
    ///   Content-Length nor a body (RFC 9110 §8.6, §15.3.5);
    /// - `Connection: close` when `keepAlive` is false (RFC 9112 §9.6);
    /// - `Connection: keep-alive` when `keepAlive` is true and the client speaks `version`
    ///   HTTP/1.0, which asked for it (RFC 9112 §9.3 and Appendix C.2.2).
    ///
    /// For a `HEAD` request (`headRequest`), the fields are those the `GET` would have, with its
    /// `Content-Length`, and no body (RFC 9110 §9.3.2).
    ///
    /// With `chunked`, the body is not written: `Transfer-Encoding: chunked` replaces the
    /// Content-Length and the caller sends the body with ``chunk(_:)`` and ``lastChunk``. With
    /// `closeDelimited` (a streamed body for an HTTP/1.0 client, which RFC 9112 §6.1 forbids
    /// chunking for), neither field is sent, nor the body: the caller sends it as it comes and
    /// closes the connection after it.
    ///
    /// `date`, when given, is sent as the `Date` field (RFC 9110 §6.6.1) unless the response has
    /// one; make it with ``imfFixdate(_:)``. Header fields whose name is not a token are left out
    /// and control characters other than HT in values are sent as spaces, so a response can never
    /// split (RFC 9110 §5.5).
    public static func encode(
        _ response: HTTPResponse,
        version: HTTPVersion = .http1_1,
        keepAlive: Bool,
        date: String? = nil,
        headRequest: Bool = false,
        chunked: Bool = false,
        closeDelimited: Bool = false
    ) -> [UInt8] {
        let status = (100...999).contains(response.status) ? response.status : 500
        let bodyAllowed = status >= 200 && status != 204
        var out: [UInt8] = []
        out.reserveCapacity(128 + response.headers.count * 48 + (bodyAllowed ? response.body.count : 0))

        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &out)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: HTTPResponse.reasonPhrase(for: status).utf8)
        out.append(contentsOf: crlf)

        var hasDate = false
        for (name, value) in response.headers {
            if HTTPHeaders.namesEqual(name, "Content-Length") || HTTPHeaders.namesEqual(name, "Transfer-Encoding")
                || HTTPHeaders.namesEqual(name, "Connection")
            {
                continue
            }
            guard HTTPSyntax.isToken(name.utf8) else { continue }
            hasDate = hasDate || HTTPHeaders.namesEqual(name, "Date")
            appendField(name, value, to: &out)
        }
        if let date, !hasDate {
            appendField("Date", date, to: &out)
        }
        if bodyAllowed && closeDelimited {
            // RFC 9112 §6.3: a body delimited by the connection's close, for a client that
            // cannot read chunks; the caller closes after it.
        } else if bodyAllowed && chunked {
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        } else if bodyAllowed {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(response.body.count, to: &out)
            out.append(contentsOf: crlf)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http1_0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: crlf)
        if bodyAllowed && !headRequest && !chunked && !closeDelimited {
            out.append(contentsOf: response.body)
        }
        return out
    }

    /// One chunk of the chunked transfer coding (RFC 9112 §7.1): size in hexadecimal, CRLF,
    /// the bytes, CRLF. An empty `bytes` gives nothing (an empty chunk would end the body).
    public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        var out = Array(String(bytes.count, radix: 16).utf8) + crlf
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(contentsOf: bytes)
        out.append(contentsOf: crlf)
        return out
    }

    /// The last chunk and the empty trailer section that end a chunked body (RFC 9112 §7.1).
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// The interim response a server sends to `Expect: 100-continue` (RFC 9110 §10.1.1, §15.2.1).
    public static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// `date` in the preferred format of the `Date` field, IMF-fixdate (RFC 9110 §5.6.7),
    /// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Computed arithmetically in UTC, without a formatter.
    public static func imfFixdate(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        // 1970-01-01 was a Thursday.
        let weekday = (days % 7 + 7 + 4) % 7
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var out: [UInt8] = []
        out.reserveCapacity(29)
        out.append(contentsOf: weekdays[weekday].utf8)
        out.append(contentsOf: ", ".utf8)
        appendPadded(day, width: 2, to: &out)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: months[month - 1].utf8)
        out.append(HTTPSyntax.space)
        appendPadded(year, width: 4, to: &out)
        out.append(HTTPSyntax.space)
        appendPadded(secondOfDay / 3600, width: 2, to: &out)
        out.append(HTTPSyntax.colon)
        appendPadded(secondOfDay / 60 % 60, width: 2, to: &out)
        out.append(HTTPSyntax.colon)
        appendPadded(secondOfDay % 60, width: 2, to: &out)
        out.append(contentsOf: " GMT".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    private static let crlf: [UInt8] = [HTTPSyntax.cr, HTTPSyntax.lf]

    private static func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(HTTPSyntax.colon)
        out.append(HTTPSyntax.space)
        for byte in value.utf8 {
            out.append(HTTPSyntax.isFieldValueByte(byte) ? byte : HTTPSyntax.space)
        }
        out.append(contentsOf: crlf)
    }

    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    private static func appendPadded(_ value: Int, width: Int, to out: inout [UInt8]) {
        let digits = String(value).utf8
        if digits.count < width {
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
        }
        out.append(contentsOf: digits)
    }

    private static func floorDivide(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = ((value % divisor) + divisor) % divisor
        return ((value - remainder) / divisor, remainder)
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01, by shifting to eras of 400
    /// years that start on 1 March, so that the leap day ends each year.
    private static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = daysSinceEpoch + 719_468  // days from 0000-03-01 to 1970-01-01
        let (era, dayOfEra) = floorDivide(shifted, 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
