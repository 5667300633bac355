import CSignetSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection: TLS engine, HTTP/1.1 parser, the response being written, and
/// the deadline of whatever phase it is in (RFC 9112 §9: persistence, pipelining, tear-down).
///
/// Confined to its event loop's thread. A request handler running elsewhere refers to the
/// connection only by `id`, through `EventLoop.execute`, so a connection closed in the meantime
/// simply drops the late response.
final class ServerConnection {
    enum State {
        /// TLS handshake in progress.
        case handshaking
        /// Waiting for (or reading) the next request.
        case reading
        /// A request is with the handler (pipelined bytes wait in the parser); what its response's
        /// framing needs to know of it.
        case processing(Pending)
        /// A streamed response body is being written as its chunks arrive; the connection
        /// closes when it ends. Whatever the client sends meanwhile is discarded.
        case streaming
        /// The last response is written; waiting for it to drain, then close.
        case closing
        /// Output is shut down; discarding whatever the client still sends, briefly, so the
        /// kernel does not reset the connection before the client reads the final response
        /// (RFC 9112 §9.6).
        case lingering
        case closed
    }

    /// What writing the response needs to know of the request being handled.
    struct Pending {
        var version: HTTPVersion
        var keepAlive: Bool
        var isHead: Bool
    }

    let id: UInt64
    let fd: Int32
    let remote: String
    /// The peer's IP address, as connection limits count it.
    let peer: PeerAddress?
    private let engine: TLSEngine
    private unowned let loop: EventLoop
    private var parser: HTTPRequestParser
    private var state: State = .handshaking
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var deadline: (kind: TimeoutKind, at: ContinuousClock.Instant)
    private var writeDeadline: ContinuousClock.Instant?
    private var readingEnabled = true
    /// Reading is off because more than ``HTTPServerConfiguration/maxUnsentOutputBytes`` of
    /// responses wait for the client (back-pressure); ``flush()`` turns it back on.
    private var pausedForOutput = false
    /// This connection's unsent output as last counted in ``ServerCore/unsentOutput``.
    private var countedUnsentOutput = 0
    /// Bytes of request bodies this connection holds against the server's body budget.
    private var bodyReservation = 0
    /// Whether the peer is one of ``PeerConnectionLimits/reservedPeers``.
    private let isReservedPeer: Bool
    /// The head of the request being read has been shown to the handler's `screen`.
    private var headScreened = false
    /// The loop pass ``answeredThisPass`` counts for.
    private var countedPass: UInt64 = 0
    /// Requests handed to the handler in that pass.
    private var answeredThisPass = 0
    /// Set while the connection waits in its loop's list of connections to resume.
    var resumeScheduled = false
    private var writeInterest = false
    private var draining = false
    /// After an error response the client may still be sending a body we did not read.
    private var lingerAfterClose = false
    private var requestsServed = 0
    private var peerClosed = false
    /// A handler is running synchronously inside ``dispatch(_:)``.
    private var dispatching = false
    /// What every request's context says about the TLS session, read once after the handshake
    /// (renegotiation is off, so it cannot change).
    private var tlsVersion: String?
    private var peerCertificateSubject: String?
    private var peerCertificateNames: [String] = []
    /// Moves a streamed response's chunks to this connection (see ``startStreaming(_:)``).
    private var streamTask: Task<Void, Never>?
    /// The handler's work for the request being processed, when it suspended (cancelled when
    /// the connection closes first).
    private var handlerTask: Task<Void, Never>?

    private var core: ServerCore { loop.core }

    init(id: UInt64, fd: Int32, remote: String, peer: PeerAddress?, engine: TLSEngine, loop: EventLoop) {
        self.id = id
        self.fd = fd
        self.remote = remote
        self.peer = peer
        self.engine = engine
        self.loop = loop
        self.parser = HTTPRequestParser(limits: loop.core.configuration.parserLimits)
        self.isReservedPeer = loop.core.bodyBudget.isReserved(peer)
        self.deadline = (.handshake, .now + loop.core.configuration.handshakeTimeout)
    }

    // MARK: - Events

    func handle(events: UInt32) {
        if events & signet_epoll_err != 0 {
            closeNow()
            return
        }
        var events = events
        if case .processing = state, events & signet_epoll_in != 0, events & (signet_epoll_hup | signet_epoll_rdhup) == 0 {
            // Reading stays on while a request is with the handler and is turned off only when
            // the client sends more before the response (a pipelined request): most responses
            // are written before the next wake-up, and this spares two epoll_ctl calls each.
            setReading(false)
            events &= ~signet_epoll_in
        }
        if events & (signet_epoll_in | signet_epoll_hup | signet_epoll_rdhup) != 0 {
            readFromSocket(hangUp: events & (signet_epoll_hup | signet_epoll_rdhup) != 0)
        }
        if case .closed = state { return }
        if events & signet_epoll_out != 0 {
            flush()
        }
    }

    /// Reads what the socket holds. Without a hang-up, a read that does not fill the buffer
    /// took everything there was, so the loop stops there instead of asking again only to be
    /// told EAGAIN (the level-triggered event brings it back for anything that arrives later);
    /// after a hang-up it reads on to the end of the stream.
    private func readFromSocket(hangUp: Bool) {
        var total = 0
        // Bounded per wake-up so one busy client cannot starve the others on this loop; the
        // level-triggered event brings us back for the rest.
        while total < 256 * 1024 {
            let count = loop.scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                total += count
                if case .lingering = state { continue }
                if case .streaming = state { continue }
                loop.scratch.withUnsafeBytes { engine.receiveCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                if !hangUp && count < loop.scratch.count { break }
            } else if count == 0 {
                peerClosed = true
                break
            } else {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                closeNow()
                return
            }
        }
        if case .lingering = state {
            if peerClosed { closeNow() }
            return
        }
        if total > 0 { driveTLS() }
        if case .closed = state { return }
        if peerClosed {
            // The client finished sending. Nothing more can arrive, and a response to a
            // request still in the handler could not be read reliably: close.
            closeNow()
        }
    }

    /// Runs the TLS engine over the ciphertext received: handshake, then decrypted bytes into the parser.
    private func driveTLS() {
        readLoop: while true {
            // Decrypted into the loop's scratch buffer, straight into the parser.
            let result = loop.scratch.withUnsafeMutableBytes { scratch in
                engine.readPlaintext(using: scratch) { parser.append($0) }
            }
            switch result {
            case .readBytes:
                break
            case .wantMoreCiphertext:
                break readLoop
            case .closedByPeer:
                flush()
                closeNow()
                return
            case .failed(let error):
                if case .handshaking = state {
                    core.metrics.handshakeFailures.increment()
                    core.logger.debug("TLS handshake failed", metadata: ["peer": "\(remote)", "error": "\(error)"])
                } else {
                    core.logger.debug("TLS error", metadata: ["peer": "\(remote)", "error": "\(error)"])
                }
                // Send the alert OpenSSL produced, then close.
                closeAfterFlush()
                return
            }
        }
        if case .handshaking = state, engine.isHandshakeComplete {
            state = .reading
            tlsVersion = engine.negotiatedProtocolVersion
            peerCertificateSubject = engine.peerCertificateSubject
            if peerCertificateSubject != nil { peerCertificateNames = engine.peerCertificateNames }
            // The first request must arrive within the header timeout of the handshake.
            deadline = (.header, .now + core.configuration.headerTimeout)
            if draining {
                flush()
                closeGracefully()
                return
            }
        }
        flush()
        if case .reading = state { processRequests() }
    }

    // MARK: - Requests

    /// Requests one connection hands to the handler in one pass of its loop at most. A client
    /// that pipelines thousands of requests in one write has the rest read in later passes, so
    /// the other connections of the loop (the API server's among them) have their turn between.
    static let requestsPerPass = 64

    /// Goes on with the requests left in the buffer when ``requestsPerPass`` stopped them.
    func resumeRequests() {
        resumeScheduled = false
        guard !isClosed, case .reading = state else { return }
        if !pausedForOutput { setReading(true) }
        processRequests()
    }

    private func processRequests() {
        while case .reading = state {
            if countedPass != loop.pass {
                countedPass = loop.pass
                answeredThisPass = 0
            }
            if answeredThisPass >= Self.requestsPerPass, parser.bufferedByteCount > 0 {
                // Nothing more is read meanwhile: the buffer holds the requests still to answer.
                setReading(false)
                loop.resumeNextPass(self)
                return
            }
            if outputMustWait() {
                // Answers pile up faster than the client takes them: write what the socket
                // takes now, and stop reading requests while too much is left.
                flush()
                guard case .reading = state else { return }
                if outputMustWait() {
                    pauseForOutput()
                    return
                }
            }
            switch parser.next() {
            case .needMoreData:
                updateReadDeadline()
                _ = admitPendingBody()
                return
            case .continueExpected:
                guard admitPendingBody() else { return }
                send(HTTPResponseEncoder.continueResponse)
                // The client holds its body until it reads this: out now, not with the answers
                // at the end of the pass.
                flush()
            case .request(let request):
                // Bytes the client sent after this request (pipelined) wait in the parser while
                // the handler works: past a few kilobytes (a stray CRLF, a short next request)
                // they count against the budget with the body, or a client could hold a quarter
                // of a megabyte per connection outside it.
                let pipelined = max(0, parser.bufferedByteCount - Self.pipelinedAllowance)
                guard (headScreened || screen(request)) && reserveBody(request.body.count + pipelined) else { return }
                headScreened = false
                answeredThisPass += 1
                // A handler that answers without waiting has already completed the request
                // here; the loop goes on with the next pipelined one.
                dispatch(request)
            case .failure(let error):
                core.metrics.badRequests.increment()
                core.logger.debug(
                    "rejected malformed request",
                    metadata: ["peer": "\(remote)", "status": "\(error.status)", "reason": "\(error.reason)"])
                respondAndClose(HTTPResponse.text(error.status, error.reason + "\n"))
                return
            }
        }
    }

    /// While a body is being read: shows its head to the handler once, then holds the body's
    /// bytes against the server's budget. False when the request was refused (the connection
    /// is then closing).
    private func admitPendingBody() -> Bool {
        guard let head = parser.pendingHead else { return true }
        if !headScreened {
            guard screen(head) else { return false }
        }
        return reserveBody(parser.pendingBodyByteCount)
    }

    /// The handler's decision on a request head; a refusal is written and the connection closed.
    private func screen(_ head: HTTPRequest) -> Bool {
        headScreened = true
        guard let refusal = core.handler.screen(head, context: makeContext()) else { return true }
        core.metrics.refusedAtHead.increment()
        core.logger.debug("request refused from its head", metadata: [
            "peer": "\(remote)", "path": "\(head.path)", "status": "\(refusal.status)",
        ])
        respondAndClose(refusal)
        return false
    }

    /// Holds `byteCount` bytes of body against the server's body budget and the peer's share
    /// of it (``BodyBudget``); beyond either, answers 503 with `Retry-After` and closes.
    private func reserveBody(_ byteCount: Int) -> Bool {
        guard byteCount > bodyReservation else { return true }
        if let refusal = core.bodyBudget.reserve(byteCount - bodyReservation, peer: peer, reserved: isReservedPeer) {
            core.metrics.bodyBudgetRefusals.increment()
            core.logger.notice("request body refused: the body budget is spent", metadata: [
                "peer": "\(remote)", "body_bytes": "\(byteCount)", "reason": "\(refusal.rawValue)",
            ])
            var response = HTTPResponse.text(503, refusal.explanation + "\n")
            response.headers.add(name: "Retry-After", value: "1")
            respondAndClose(response)
            return false
        }
        bodyReservation = byteCount
        return true
    }

    /// Gives the connection's body bytes back to the budget (its request was answered or dropped).
    private func releaseBody() {
        guard bodyReservation > 0 else { return }
        core.bodyBudget.release(bodyReservation, peer: peer)
        bodyReservation = 0
    }

    private func makeContext() -> HTTPRequestContext {
        HTTPRequestContext(
            remoteAddress: remote, peer: peer, tlsVersion: tlsVersion, peerCertificateSubject: peerCertificateSubject,
            peerCertificateNames: peerCertificateNames, receivedAt: .now)
    }

    /// Moves the read deadline when the parser changes phase: idle keep-alive, head, body.
    private func updateReadDeadline() {
        let configuration = core.configuration
        switch parser.phase {
        case .idle:
            if requestsServed > 0 && deadline.kind != .idle {
                deadline = (.idle, .now + configuration.idleTimeout)
            }
        case .readingHead:
            if deadline.kind == .idle { deadline = (.header, .now + configuration.headerTimeout) }
        case .readingBody:
            if deadline.kind != .body { deadline = (.body, .now + configuration.bodyTimeout) }
        case .failed:
            break
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        state = .processing(Pending(version: request.version, keepAlive: request.keepAlive, isHead: request.method == "HEAD"))
        let context = makeContext()
        let handler = core.handler
        let loop = self.loop
        let id = self.id
        let core = self.core
        dispatching = true
        defer { dispatching = false }
        let work: @Sendable () async -> HTTPResponse
        switch handler.begin(request, context: context) {
        case .answered(let response):
            complete(response)
            return
        case .waiting(let rest):
            work = rest
        }
        core.requestsInFlight.wrappingAdd(1, ordering: .relaxed)
        // Started on this thread, so work that does not suspend answers before `dispatch`
        // returns, with no trip through the loop's queue. When it suspends, it resumes on this
        // loop (its executor preference), so the answer is written from the loop's thread either
        // way. Kept, so that a connection closed meanwhile cancels it (`closeNow`).
        let task = Task.immediateDetached(executorPreference: loop) {
            let response = await work()
            let answer: @Sendable () -> Void = {
                core.requestsInFlight.wrappingSubtract(1, ordering: .relaxed)
                loop.connection(id)?.complete(response)
            }
            if loop.inLoopThread { answer() } else { loop.execute(answer) }
        }
        // Answered already when the work did not suspend.
        if case .processing = state { handlerTask = task }
    }

    /// Writes the handler's response; keeps the connection for the next request or closes it.
    func complete(_ response: HTTPResponse) {
        guard case .processing(let request) = state else { return }
        handlerTask = nil
        releaseBody()
        requestsServed += 1
        if let stream = response.stream, !request.isHead, response.status >= 200, response.status != 204 {
            startStreaming(response, stream: stream, chunked: request.version != .http1_0)
            return
        }
        let keepAlive = request.keepAlive && !draining && !core.isDraining
        let bytes = HTTPResponseEncoder.encode(
            response, version: request.version, keepAlive: keepAlive, date: loop.dateHeader(), headRequest: request.isHead)
        if keepAlive {
            state = .reading
            deadline = (.idle, .now + core.configuration.idleTimeout)
            send(bytes)
            guard case .reading = state else { return }
            if !pausedForOutput { setReading(true) }
            // Inside `dispatch`, its caller's loop reads the next request (no recursion per
            // pipelined request).
            if !dispatching { processRequests() }
        } else {
            // Written at the end of the loop's pass like every other answer, so after the
            // pass's `beforeAnswersAreSent` hook (audit lines reach standard output first).
            send(bytes, thenClose: true, atEndOfPass: true)
        }
    }

    /// Writes the head of a streamed response, then each chunk as the stream yields it, from a
    /// task that hands them to this loop by connection id; the last chunk and close when the
    /// stream ends. Closing the connection first cancels the task, which ends the stream's
    /// iteration (its producer sees the termination). Without `chunked` (an HTTP/1.0 client,
    /// RFC 9112 §6.1), the body goes as it comes and the close ends it.
    private func startStreaming(_ response: HTTPResponse, stream: AsyncStream<[UInt8]>, chunked: Bool) {
        state = .streaming
        streamIsChunked = chunked
        send(HTTPResponseEncoder.encode(
            response, keepAlive: false, date: loop.dateHeader(), chunked: chunked, closeDelimited: !chunked))
        let loop = self.loop
        let id = self.id
        streamTask = Task.detached {
            for await chunk in stream {
                let bytes = chunked ? HTTPResponseEncoder.chunk(chunk) : chunk
                guard !bytes.isEmpty else { continue }
                loop.execute { loop.connection(id)?.sendStreamed(bytes) }
            }
            loop.execute { loop.connection(id)?.endStream() }
        }
    }

    /// Whether the streamed body is sent in chunks (see ``startStreaming(_:stream:chunked:)``).
    private var streamIsChunked = true

    /// One chunk of a streamed body; a client that does not take its chunks is closed.
    private func sendStreamed(_ bytes: [UInt8]) {
        guard case .streaming = state else { return }
        // A client that does not take its stream is closed: at its own share, or at a few
        // chunks while the server's output is over its budget.
        let unsent = unsentOutputBytes
        if unsent > core.configuration.maxUnsentOutputBytes || (unsent > Self.uncountedOutputBytes && core.isOverOutputBudget) {
            closeNow()
            return
        }
        send(bytes)
    }

    /// The last chunk of a streamed body, then close.
    private func endStream() {
        guard case .streaming = state else { return }
        send(streamIsChunked ? HTTPResponseEncoder.lastChunk : [], thenClose: true, atEndOfPass: true)
    }

    /// Sends an error (or final) response with `Connection: close`, then closes after it is written.
    private func respondAndClose(_ response: HTTPResponse) {
        lingerAfterClose = true
        let bytes = HTTPResponseEncoder.encode(response, version: .http1_1, keepAlive: false, date: loop.dateHeader())
        send(bytes, thenClose: true)
    }

    private func send(_ bytes: [UInt8], thenClose: Bool = false, atEndOfPass: Bool = false) {
        if case .failed(let error) = engine.writePlaintext(bytes) {
            core.logger.debug("TLS write failed", metadata: ["peer": "\(remote)", "error": "\(error)"])
            closeNow()
            return
        }
        if thenClose && atEndOfPass {
            beginClosing()
            loop.flushLater(self)
        } else if thenClose {
            closeAfterFlush()
        } else {
            // Written when the loop has answered everything that was ready (see
            // `EventLoop.flushLater`), so the client reads a burst of responses at once.
            loop.flushLater(self)
        }
    }

    /// Set while the connection waits in its loop's list of connections to flush.
    var flushScheduled = false

    /// Writes what ``send(_:thenClose:)`` left for the end of the loop's pass.
    func flushScheduledOutput() {
        flushScheduled = false
        if !isClosed { flush() }
    }

    // MARK: - Output

    /// Moves ciphertext to the socket; registers for writability when the socket is full.
    private func flush() {
        if engine.hasPendingCiphertext {
            let more = engine.takeCiphertext()
            if outboundOffset == outbound.count {
                outbound = more
                outboundOffset = 0
            } else {
                outbound.append(contentsOf: more)
            }
        }
        while outboundOffset < outbound.count {
            let written = outbound.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + outboundOffset, buffer.count - outboundOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outboundOffset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                break
            } else {
                closeNow()
                return
            }
        }
        countUnsentOutput()
        if pausedForOutput && unsentOutputBytes <= core.configuration.maxUnsentOutputBytes / 2 && !(unsentOutputBytes > 0 && core.isOverOutputBudget) {
            resumeAfterOutput()
            if isClosed { return }
        }
        if outboundOffset == outbound.count {
            outbound.removeAll(keepingCapacity: outbound.count <= 64 * 1024)
            outboundOffset = 0
            writeDeadline = nil
            if writeInterest { setWriting(false) }
            if case .closing = state {
                if lingerAfterClose { startLingering() } else { closeNow() }
            }
        } else {
            if writeDeadline == nil { writeDeadline = .now + core.configuration.writeTimeout }
            if !writeInterest { setWriting(true) }
        }
    }

    /// Bytes pipelined behind a request held by the handler that do not count against the body
    /// budget (``HTTPServerConfiguration/maxBufferedBodyBytes``).
    static let pipelinedAllowance = 4096

    /// Responses not yet taken by the socket: ciphertext in the TLS engine and in `outbound`.
    private var unsentOutputBytes: Int {
        engine.pendingCiphertextCount + outbound.count - outboundOffset
    }

    /// Whether to answer no further request until the client takes what waits: more than the
    /// connection's share waits, or any does while the server's total is over its budget.
    private func outputMustWait() -> Bool {
        let unsent = unsentOutputBytes
        // Answers piling up within one pass count toward the server's total before the pass
        // ends (past a few answers' worth), so that connections answering pipelined requests at
        // the same time see the total cross its budget.
        if unsent > Self.uncountedOutputBytes { countUnsentOutput(recording: false) }
        return unsent > core.configuration.maxUnsentOutputBytes || (unsent > 0 && core.isOverOutputBudget)
    }

    /// Unsent output a connection holds within one pass before it counts toward the server's total.
    static let uncountedOutputBytes = 64 * 1024

    /// Brings ``ServerCore/unsentOutput`` up to date with this connection's unsent output; an
    /// atomic only when it changed (a client that takes its answers leaves nothing unsent).
    private func countUnsentOutput(recording: Bool = true) {
        let unsent = isClosed ? 0 : unsentOutputBytes
        guard unsent != countedUnsentOutput || (recording && unrecordedOutput) else { return }
        core.holdOutput(unsent - countedUnsentOutput, recording: recording)
        countedUnsentOutput = unsent
        unrecordedOutput = !recording
    }

    /// The count changed since the gauge last showed it (a change counted within a pass).
    private var unrecordedOutput = false

    /// Stops reading requests until the client takes its answers (see ``flush()``).
    private func pauseForOutput() {
        guard !pausedForOutput else { return }
        pausedForOutput = true
        core.metrics.readPauses.increment()
        core.logger.debug("client is not reading its responses; pausing reads", metadata: [
            "peer": "\(remote)", "unsent_bytes": "\(unsentOutputBytes)",
        ])
        setReading(false)
    }

    /// The client took enough: read again, and answer the requests already buffered.
    private func resumeAfterOutput() {
        pausedForOutput = false
        guard case .reading = state else { return }
        setReading(true)
        if !dispatching { processRequests() }
    }

    private func closeAfterFlush() {
        guard !isClosed else { return }
        beginClosing()
        flush()
    }

    /// Queues close_notify and stops reading; the next ``flush()`` that empties the output closes.
    private func beginClosing() {
        engine.shutdown()
        state = .closing
        setReading(false)
    }

    /// Half-closes and discards input for a moment, then closes (RFC 9112 §9.6).
    private func startLingering() {
        state = .lingering
        shutdown(fd, Int32(SHUT_WR))
        deadline = (.linger, .now + .seconds(2))
        setReading(true)
    }

    /// Sends close_notify to an idle connection and closes it.
    private func closeGracefully() {
        closeAfterFlush()
    }

    func closeNow() {
        guard !isClosed else { return }
        state = .closed
        streamTask?.cancel()
        streamTask = nil
        // A request whose client went away is not worked on for nobody: an admission review
        // abandoned at once would otherwise go on verifying (and holding its body) until its
        // deadline, outside every connection and body limit, as often as a client can connect.
        handlerTask?.cancel()
        handlerTask = nil
        releaseBody()
        countUnsentOutput()
        close(fd)
        loop.remove(self)
    }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    private func setReading(_ enabled: Bool) {
        guard enabled != readingEnabled, !isClosed else { return }
        readingEnabled = enabled
        loop.updateInterest(fd: fd, id: id, read: enabled, write: writeInterest)
    }

    private func setWriting(_ enabled: Bool) {
        guard enabled != writeInterest, !isClosed else { return }
        writeInterest = enabled
        loop.updateInterest(fd: fd, id: id, read: readingEnabled, write: enabled)
    }

    // MARK: - Deadlines and shutdown

    func checkDeadlines(now: ContinuousClock.Instant) {
        if let writeDeadline, now >= writeDeadline {
            core.metrics.timeouts[.write]?.increment()
            closeNow()
            return
        }
        switch state {
        case .processing, .streaming, .closed, .closing:
            return
        case .handshaking, .reading, .lingering:
            break
        }
        guard now >= deadline.at else { return }
        let kind = deadline.kind
        core.metrics.timeouts[kind]?.increment()
        switch kind {
        case .header where parser.phase != .idle, .body:
            core.logger.debug("request timed out", metadata: ["peer": "\(remote)", "phase": "\(kind.rawValue)"])
            respondAndClose(HTTPResponse.text(408, "request \(kind == .body ? "body" : "header") not received in time\n"))
        case .header, .idle:
            // Nothing of a request arrived: close quietly with close_notify.
            closeGracefully()
        case .handshake, .write, .linger:
            closeNow()
        }
    }

    /// Graceful shutdown: idle connections close now; a request in progress finishes and its
    /// response carries `Connection: close`.
    func beginDrain() {
        draining = true
        switch state {
        case .handshaking:
            closeNow()
        case .reading where parser.phase == .idle:
            closeGracefully()
        case .streaming:
            endStream()
        default:
            break
        }
    }
}
