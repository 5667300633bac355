#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The IP address of a connection's peer, without the port: the unit per-peer connection
/// limits count by. IPv4 addresses are held as IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2),
/// so a client counts once whether a dual-stack listener sees it as `10.0.0.7` or `::ffff:10.0.0.7`.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    /// The 128 bits, most significant first.
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An IPv4 address (`a.b.c.d`) or IPv6 address in text form (RFC 4291 §2.2), or `nil`.
    public init?(parsing text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4NetworkOrder: v4.s_addr)
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self.init(ipv6: v6)
    }

    /// The address of a socket address from `accept(2)`; `nil` for other families.
    init?(_ storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr } }
            self.init(ipv4NetworkOrder: address.s_addr)
        case AF_INET6:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr } }
            self.init(ipv6: address)
        default:
            return nil
        }
    }

    private init(ipv4NetworkOrder address: in_addr_t) {
        self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(UInt32(bigEndian: address)))
    }

    private init(ipv6 address: in6_addr) {
        var address = address
        let bytes = withUnsafeBytes(of: &address) { Array($0) }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        self.init(high: high, low: low)
    }

    /// Whether this is an IPv4(-mapped) address.
    var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

    public var description: String {
        if isIPv4 {
            let v4 = UInt32(truncatingIfNeeded: low)
            return "\(v4 >> 24).\(v4 >> 16 & 0xFF).\(v4 >> 8 & 0xFF).\(v4 & 0xFF)"
        }
        let groups = (0..<8).map { index -> String in
            let word = index < 4 ? high >> (48 - 16 * UInt64(index)) : low >> (48 - 16 * UInt64(index - 4))
            return String(word & 0xFFFF, radix: 16)
        }
        return groups.joined(separator: ":")
    }
}

/// An address range in CIDR notation (RFC 4632 §3.1; RFC 4291 §2.3 for IPv6): `10.0.0.0/8`,
/// `fd00::/8`, or a single address (`/32` or `/128` implied).
public struct PeerNetwork: Sendable, Hashable, CustomStringConvertible {
    let address: PeerAddress
    /// The prefix length over the 128-bit form (an IPv4 `/n` is `/96+n`).
    let prefixLength: Int
    public let description: String

    /// Parses `address[/prefix]`; `nil` when either part is invalid or host bits are set.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = PeerAddress(parsing: String(parts[0])) else { return nil }
        let width = address.isIPv4 ? 32 : 128
        var length = width
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...width).contains(value), parts[1].allSatisfy(\.isASCII) else { return nil }
            length = value
        }
        self.address = address
        self.prefixLength = (address.isIPv4 ? 96 : 0) + length
        self.description = text
        guard Self.masked(address, prefixLength) == address else { return nil }
    }

    /// Whether `peer` lies in the range.
    public func contains(_ peer: PeerAddress) -> Bool {
        Self.masked(peer, prefixLength) == address
    }

    private static func masked(_ address: PeerAddress, _ length: Int) -> PeerAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
        return PeerAddress(high: address.high & mask(length), low: address.low & mask(length - 64))
    }
}
