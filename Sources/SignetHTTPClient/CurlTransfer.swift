import CSignetCurl
import Glibc

/// Settings every transfer of one client shares.
package struct CurlTransferSettings: Sendable {
    package var caBundlePath: String?
    package var connectTimeout: Duration
    package var lowSpeedTimeout: Duration
    package var maximumRedirects: Int
    package var userAgent: String
    /// Response header bytes beyond this abort the transfer.
    package var maximumHeaderBytes: Int = 64 * 1024
    /// PEM client certificate (TLS client authentication) and its PEM private key; none when `nil`.
    package var clientCertificatePath: String?
    package var clientKeyPath: String?
    /// The room the response bodies of all transfers of the driver may take at once
    /// (``ResponseBufferBudget``); unbounded but for each transfer's own cap when `nil`.
    package var responseBufferLimit: Int?
    /// Told, on the driver thread, each time that room changes or the budget stops transfers.
    package var onResponseBufferChange: (@Sendable (ResponseBufferLevel) -> Void)?
    /// How many host name lookups ended transfers may leave running before new ones are
    /// refused, and how long each counts (``UnfinishedLookups``).
    package var maximumUnfinishedLookups = 64
    package var unfinishedLookupAllowance: Duration = .seconds(30)

    package init(
        caBundlePath: String?, connectTimeout: Duration, lowSpeedTimeout: Duration, maximumRedirects: Int,
        userAgent: String, maximumHeaderBytes: Int = 64 * 1024
    ) {
        self.caBundlePath = caBundlePath
        self.connectTimeout = connectTimeout
        self.lowSpeedTimeout = lowSpeedTimeout
        self.maximumRedirects = maximumRedirects
        self.userAgent = userAgent
        self.maximumHeaderBytes = maximumHeaderBytes
    }
}

/// What the transfers of one driver hold, as ``CurlTransferSettings/onResponseBufferChange`` is told.
package struct ResponseBufferLevel: Sendable, Equatable {
    /// Room taken by the response bodies of running transfers.
    package var bufferedBytes: Int
    /// Transfers this change stopped to stay within the budget.
    package var stoppedTransfers: Int
}

/// One HTTP exchange on a libcurl easy handle, which it owns and frees.
///
/// A transfer is configured on the calling thread, then handed to ``CurlMultiDriver``; from then
/// on only the driver thread touches the handle and the buffers the callbacks fill, and it calls
/// ``close()`` before it resumes the waiting task.
final class CurlTransfer: @unchecked Sendable {
    // The easy handle and the buffers are used by one thread at a time: the creating thread until
    // the transfer is enqueued (the driver lock publishes it), the driver thread after that.
    // `continuation` is set once before enqueueing and consumed once by whoever finishes the
    // transfer, always under the driver's lock.
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    let request: HTTPRequest

    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    /// Set by ``CurlMultiDriver`` when the task asks to cancel before or during the transfer.
    var cancelRequested = false
    /// Set by the driver when it keeps a ``ResponseBufferBudget``: asks for more room for the
    /// body (`false`: this transfer is stopped), and gives back room dropped. Driver thread only.
    var bodyBudget: (admit: (Int) -> Bool, discard: (Int) -> Void)?
    /// This transfer's identity in the driver's budget, when it counts against one.
    var budgetID: ResponseBufferBudget.TransferID?
    /// The room the body's storage takes, as the budget counts it: the body never outgrows it.
    private var bodyRoom = 0
    /// The budget stopped this transfer (its body is gone); it fails with
    /// ``TransportFailure/overBudget(limit:)``.
    private(set) var stoppedForBudget = false
    /// The driver's lookups under way and left running, set when the transfer starts (driver
    /// thread only).
    var unfinishedLookups: UnfinishedLookups?
    /// curl's lookup time when the lookup under way started; nil when none is.
    private var lookupStartedAt: Int64?
    /// A lookup was refused: of which host, and why.
    private var refusedLookup: (host: String, why: String)?
    /// The code curl ended the transfer with, once it did.
    private var curlCode: CURLcode?
    /// Addresses ``HTTPRequest/connectionCheck`` refused, in order (driver thread only).
    private var refusedAddresses: [String] = []

    private(set) var body: [UInt8] = []
    private(set) var responseHeaders: [(name: String, value: String)] = []
    private var headerBytes = 0
    private(set) var exceededBodyLimit = false
    private(set) var exceededHeaderLimit = false
    private let maximumHeaderBytes: Int

    init(_ request: HTTPRequest, settings: CurlTransferSettings) throws(TransportFailure) {
        self.request = request
        self.maximumHeaderBytes = settings.maximumHeaderBytes
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        guard let easy = curl_easy_init() else {
            throw .invalidRequest("curl_easy_init failed")
        }
        self.easy = easy
        let remaining = ContinuousClock.now.duration(to: request.deadline)
        guard remaining > .zero else { throw .deadlineExceeded }
        try configure(easy, settings: settings, remaining: remaining)
    }

    deinit {
        close()
        errorBuffer.deallocate()
    }

    /// Frees the easy handle and the header list. Called by the driver thread once the handle is
    /// out of the multi handle, or by `deinit` for a transfer that never started.
    func close() {
        if let easy {
            curl_easy_cleanup(easy)
            self.easy = nil
        }
        if let headerList {
            curl_slist_free_all(headerList)
            self.headerList = nil
        }
    }

    /// curl's message for the last failure, if it wrote one.
    var errorMessage: String {
        String(cString: errorBuffer)
    }

    private func configure(_ easy: UnsafeMutableRawPointer, settings: CurlTransferSettings, remaining: Duration) throws(TransportFailure) {
        func check(_ code: CURLcode, _ what: String) throws(TransportFailure) {
            guard code == CURLE_OK else {
                throw .invalidRequest("\(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        try check(signet_curl_easy_setopt_string(easy, CURLOPT_URL, request.url), "URL \(request.url)")
        // HTTP and HTTPS only; a transfer that starts over HTTPS is redirected over HTTPS only:
        // a registry (or token service) sending signet to `http://169.254.169.254/...` or to a
        // plain-HTTP service beside it would otherwise have it fetch there, and a token read
        // there would be sent back to the registry.
        let plainRedirects = request.url.prefix(7).lowercased() == "http://"
        try check(signet_curl_easy_restrict_protocols_to_http(easy, plainRedirects ? 1 : 0), "protocols")
        try check(signet_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "nosignal")
        // A transfer ended (deadline, connect timeout) while its host name is still being
        // resolved leaves the resolver's thread to finish on its own. Without this, curl waits
        // for that thread, on the one thread that drives every registry transfer: a name whose
        // DNS server never answers, chosen by whoever writes an image name, stalled every
        // admission's registry traffic for as long as the lookup took.
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_QUICK_EXIT, 1), "quick exit")
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS), "HTTP version")
        // Over TLS, wait for a connection being opened to the same host instead of opening a
        // second one, in case ALPN makes it HTTP/2 and it can carry this transfer too. Over plain
        // HTTP nothing multiplexes (HTTP/2 is asked for over TLS only), and curl learns that only
        // from an answer, forgotten with the connection: waiting made every transfer to a
        // registry that closes its connections (`Connection: close`) wait for the one before it.
        // The first URL decides for the redirects it leads to.
        if request.url.prefix(8).lowercased() == "https://" {
            try check(signet_curl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 1), "pipewait")
        }
        // No redirects allowed: a redirect is answered as it came, for the caller to judge.
        if settings.maximumRedirects > 0 {
            try check(signet_curl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1), "follow redirects")
            try check(signet_curl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, settings.maximumRedirects), "redirects")
        }
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1), "verify peer")
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2), "verify host")
        if let caBundlePath = settings.caBundlePath {
            try check(signet_curl_easy_setopt_string(easy, CURLOPT_CAINFO, caBundlePath), "CA bundle \(caBundlePath)")
        }
        if let certificate = settings.clientCertificatePath, let key = settings.clientKeyPath {
            try check(signet_curl_easy_setopt_string(easy, CURLOPT_SSLCERT, certificate), "client certificate \(certificate)")
            try check(signet_curl_easy_setopt_string(easy, CURLOPT_SSLKEY, key), "client key \(key)")
        }
        try check(signet_curl_easy_setopt_string(easy, CURLOPT_USERAGENT, settings.userAgent), "user agent")

        // The deadline is the driver's to enforce, by the clock callers set it with (see
        // `CurlMultiDriver.expireOverdueTransfers`). curl's own total timeout, measured by its
        // clock from when it starts the transfer and in whole milliseconds, can fire a hair before
        // the deadline and would then be reported as a timeout of curl's; it stays only as a
        // backstop, a little past the deadline.
        let totalMilliseconds = Self.millisecondsRoundedUp(remaining + Self.deadlineBackstop)
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, totalMilliseconds), "timeout")
        let connectMilliseconds = max(1, min(totalMilliseconds, Self.milliseconds(settings.connectTimeout)))
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, connectMilliseconds), "connect timeout")
        let lowSpeedSeconds = max(1, Self.milliseconds(settings.lowSpeedTimeout) / 1000)
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1), "low speed limit")
        try check(signet_curl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, lowSpeedSeconds), "low speed time")
        // curl refuses up front when Content-Length already says the body is too large (not for
        // HEAD, whose Content-Length describes a body that is not sent).
        if request.method != .head && request.bodyStream == nil {
            try check(signet_curl_easy_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, Int64(request.maximumResponseBytes)), "size cap")
        }

        switch request.method {
        case .get:
            break
        case .head:
            try check(signet_curl_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "HEAD")
        case .post, .put, .delete, .patch:
            if request.method != .delete || request.body != nil {
                let body = request.body ?? []
                let code = body.withUnsafeBytes { signet_curl_easy_set_body(easy, $0.baseAddress, Int64($0.count)) }
                try check(code, "request body")
            }
            if request.method != .post {
                try check(signet_curl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method.rawValue), "method")
            }
        }

        var list: UnsafeMutablePointer<curl_slist>?
        // No "Expect: 100-continue" round trip for uploads.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            guard let appended = curl_slist_append(list, line) else {
                if let list { curl_slist_free_all(list) }
                throw .invalidRequest("curl_slist_append failed")
            }
            list = appended
        }
        headerList = list
        try check(signet_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "headers")

        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(signet_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context), "write data")
        try check(signet_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context), "header data")
        try check(
            signet_curl_easy_setopt_writefunction(easy) { pointer, size, count, context in
                guard let context else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.receiveBody(UnsafeRawBufferPointer(start: pointer, count: size * count))
            }, "write function")
        try check(
            signet_curl_easy_setopt_headerfunction(easy) { pointer, size, count, context in
                guard let context else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.receiveHeader(UnsafeRawBufferPointer(start: pointer, count: size * count))
            }, "header function")
        try check(
            signet_curl_easy_setopt_resolver_start(easy, { _, _, context in
                guard let context else { return 0 }
                return Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().lookupStarting() ? 0 : 1
            }, context), "resolver start")
        if request.connectionCheck != nil {
            // The check judges the address connected to; through a proxy that is the proxy's,
            // and the proxy (or `no_proxy`) would decide where the request goes. A checked
            // request goes direct, whatever the environment names.
            try check(signet_curl_easy_setopt_string(easy, CURLOPT_PROXY, ""), "no proxy")
            try check(
                signet_curl_easy_setopt_opensocket(easy, { context, _, address in
                    guard let context, let address else { return CURL_SOCKET_BAD }
                    return Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().openSocket(to: address)
                }, context), "connection check")
        }
    }

    /// Open-socket callback (driver thread): the socket for a connection to `address`, or
    /// `CURL_SOCKET_BAD` when the request's ``HTTPRequest/connectionCheck`` refuses it (curl then
    /// tries the host's next address, and fails the transfer with CURLE_COULDNT_CONNECT after
    /// the last). Nothing has been sent to the address yet.
    private func openSocket(to address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        var text = [CChar](repeating: 0, count: 64)
        let port = signet_curl_sockaddr_describe(address, &text, text.count)
        let numeric = port >= 0 ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        guard port >= 0, let connectionCheck = request.connectionCheck, connectionCheck(numeric, Int(port)) else {
            let refused = port >= 0 ? numeric : "an address of family \(address.pointee.family)"
            if !refusedAddresses.contains(refused) { refusedAddresses.append(refused) }
            return CURL_SOCKET_BAD
        }
        return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
    }

    /// Resolver-start callback: whether curl may start a lookup (driver thread). curl calls it
    /// for an IP address too, which it reads without a lookup.
    private func lookupStarting() -> Bool {
        guard let host = currentHost(), !Self.isAddress(host) else { return true }
        guard let unfinishedLookups else { return true }
        if let refusal = unfinishedLookups.refusal(group: request.budgetGroup) {
            refusedLookup = (host, refusal)
            return false
        }
        unfinishedLookups.start(self, group: request.budgetGroup)
        lookupStartedAt = lookupTime
        return true
    }

    /// curl's time spent looking up names so far, summed over the redirects (microseconds).
    private var lookupTime: Int64 {
        guard let easy else { return 0 }
        var time: Int64 = 0
        _ = signet_curl_easy_getinfo_off_t(easy, CURLINFO_NAMELOOKUP_TIME_T, &time)
        return time
    }

    /// Whether the lookup this transfer started has finished: curl's lookup time moved (driver thread).
    func lookupFinished() -> Bool {
        guard let started = lookupStartedAt else { return true }
        guard lookupTime != started else { return false }
        lookupStartedAt = nil
        return true
    }

    /// Whether this transfer, ending now, leaves its lookup running: one was under way, had not
    /// finished, and the transfer neither succeeded nor ended because the name could not be
    /// resolved (the lookup's own end).
    func leavesLookupRunning() -> Bool {
        guard !lookupFinished(), curlCode != CURLE_OK else { return false }
        return curlCode != CURLE_COULDNT_RESOLVE_HOST && curlCode != CURLE_COULDNT_RESOLVE_PROXY
    }

    /// The host of the URL being fetched now (after redirects), as written in it.
    private func currentHost() -> String? {
        guard let easy else { return nil }
        var effective: UnsafePointer<CChar>?
        guard signet_curl_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK, let effective else { return nil }
        return Self.authority(of: String(cString: effective))
    }

    /// `host[:port]` of `url` (without user information).
    static func authority(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        return String(rest)
    }

    /// Whether `authority` names an IP address (IPv4, or IPv6 in brackets), port or not.
    static func isAddress(_ authority: String) -> Bool {
        if authority.hasPrefix("[") { return true }
        let host = String(authority.split(separator: ":", maxSplits: 1).first ?? "")
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1
    }

    /// Write callback: appends to the body, or returns 0 (which aborts the transfer with
    /// CURLE_WRITE_ERROR) once the body would pass the cap or the driver's budget stops it.
    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let stream = request.bodyStream, let easy {
            var status = 0
            _ = signet_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            stream(status, Array(bytes))
            return bytes.count
        }
        guard !stoppedForBudget else { return 0 }
        let needed = body.count + bytes.count
        guard needed <= request.maximumResponseBytes else {
            exceededBodyLimit = true
            return 0
        }
        if let bodyBudget, needed > bodyRoom {
            // The storage grows as an array's does (doubling), counted before it is taken, but
            // never past the cap, nor past the announced length when the response has one.
            let room = min(max(needed, bodyRoom * 2), request.maximumResponseBytes, max(needed, announcedLength ?? .max))
            guard bodyBudget.admit(room - bodyRoom) else {
                stopForBudget()
                return 0
            }
            body.reserveCapacity(room)
            bodyRoom = room
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// Header callback: one complete header line per call. A status line starts a new response
    /// (after a redirect or an interim 1xx), so the fields collected so far are dropped.
    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Int {
        headerBytes += bytes.count
        guard headerBytes <= maximumHeaderBytes else {
            exceededHeaderLimit = true
            return 0
        }
        var line = Substring(String(decoding: bytes, as: UTF8.self))
        // "\r\n" is one Character in Swift; `isNewline` covers it, "\r" and "\n".
        while let last = line.last, last.isNewline { line = line.dropLast() }
        if line.hasPrefix("HTTP/") {
            responseHeaders.removeAll()
            body = []
            if bodyRoom > 0 {
                bodyBudget?.discard(bodyRoom)
                bodyRoom = 0
            }
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].trimmingSpaces().lowercased()
            let value = String(line[line.index(after: colon)...].trimmingSpaces())
            responseHeaders.append((name, value))
        }
        return bytes.count
    }

    /// The response's Content-Length, when curl knows it.
    private var announcedLength: Int? {
        guard let easy else { return nil }
        var length: Int64 = -1
        guard signet_curl_easy_getinfo_off_t(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK, length >= 0 else {
            return nil
        }
        return Int(length)
    }

    /// Drops the body: the driver's budget stopped this transfer to make room (its room is
    /// already given back). Later chunks are refused, which ends the transfer.
    func stopForBudget() {
        stoppedForBudget = true
        body = []
        bodyRoom = 0
    }

    /// Builds the response once curl reports the transfer done with `code`.
    func finish(code: CURLcode, deadlineExpired: Bool, budgetLimit: Int) -> Result<HTTPResponse, TransportFailure> {
        guard let easy else { return .failure(.cancelled) }
        curlCode = code
        if stoppedForBudget { return .failure(.overBudget(limit: budgetLimit)) }
        if let (host, why) = refusedLookup, code != CURLE_OK {
            // Tried again within the deadline, like a reset connection: a place may free soon.
            return .failure(.connection(
                message: "not looking up \(host): \(why) (a DNS server is slow or not answering); new lookups wait until fewer are",
                isReset: true))
        }
        if code == CURLE_COULDNT_CONNECT && !refusedAddresses.isEmpty {
            return .failure(.refusedAddress(refusedAddresses.prefix(4).joined(separator: ", ")))
        }
        if code != CURLE_OK {
            if exceededBodyLimit || code == CURLE_FILESIZE_EXCEEDED {
                return .failure(.tooLarge(limit: request.maximumResponseBytes))
            }
            if exceededHeaderLimit {
                return .failure(.connection(message: "response headers larger than \(maximumHeaderBytes) bytes", isReset: false))
            }
            if code == CURLE_OPERATION_TIMEDOUT && deadlineExpired {
                return .failure(.deadlineExceeded)
            }
            let detail = errorMessage.isEmpty ? String(cString: curl_easy_strerror(code)) : errorMessage
            return .failure(.connection(message: detail, isReset: Self.isReset(code)))
        }
        var status = 0
        _ = signet_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var version = 0
        _ = signet_curl_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &version)
        var connects = 0
        _ = signet_curl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
        var effective: UnsafePointer<CChar>?
        _ = signet_curl_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &effective)
        var peer: UnsafePointer<CChar>?
        _ = signet_curl_easy_getinfo_string(easy, CURLINFO_PRIMARY_IP, &peer)
        let httpVersion: Int
        switch version {
        case CURL_HTTP_VERSION_2_0: httpVersion = 2
        case CURL_HTTP_VERSION_3: httpVersion = 3
        default: httpVersion = 1
        }
        return .success(HTTPResponse(
            status: status,
            headers: responseHeaders,
            body: body,
            effectiveURL: effective.map { String(cString: $0) } ?? request.url,
            httpVersion: httpVersion,
            newConnections: connects,
            remoteAddress: peer.map { String(cString: $0) } ?? ""))
    }

    /// Failures of an established connection: the peer closed it, reset it, or broke an HTTP/2
    /// stream. Worth one more try on a fresh connection.
    private static func isReset(_ code: CURLcode) -> Bool {
        code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING
            || code == CURLE_PARTIAL_FILE || code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM
    }

    /// How long past the deadline curl's own total timeout is set: never reached while the
    /// driver thread runs, which ends the transfer at the deadline itself.
    static let deadlineBackstop: Duration = .milliseconds(250)

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    /// Whole milliseconds, never less than `duration` (and at least 1).
    static func millisecondsRoundedUp(_ duration: Duration) -> Int {
        let whole = milliseconds(duration)
        return max(1, .milliseconds(whole) < duration ? whole + 1 : whole)
    }
}

extension Substring {
    package func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}
