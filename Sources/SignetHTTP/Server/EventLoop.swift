import CSignetSystem
import Foundation
import Logging
import NIOConcurrencyHelpers
import Synchronization

/// One thread that owns a set of connections: it waits on epoll(7), reads and writes their
/// sockets, runs their TLS engines and HTTP parsers, and enforces their deadlines. Nothing here
/// runs on Swift's cooperative pool; request handlers run there, and hand their responses back
/// through `execute`.
///
/// `@unchecked Sendable`: the connection table and the listener are touched only by the loop's
/// own thread; other threads reach the loop only through `execute` (a locked queue plus an
/// eventfd wake-up) and the immutable descriptors.
final class EventLoop: TaskExecutor, @unchecked Sendable {
    static let wakeToken: UInt64 = 0
    static let listenerToken: UInt64 = 1
    static let firstConnectionToken: UInt64 = 16

    let index: Int
    let core: ServerCore
    private let epollFD: Int32
    private let wakeFD: Int32
    /// Work handed to the loop from any thread: closures, and the jobs of tasks that prefer it.
    private enum Work: Sendable {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
    }

    private let inbox = NIOLockedValueBox<[Work]>([])
    /// The loop thread's identity, to tell whether `execute` is called from the loop itself.
    private let threadID = Atomic<UInt>(0)
    private let finished = NIOLockedValueBox<[CheckedContinuation<Void, Never>]>([])
    private let hasFinished = Atomic<Bool>(false)

    // Loop-confined state.
    private var connections: [UInt64: ServerConnection] = [:]
    private var listenerFD: Int32 = -1
    private var listenerPausedUntil: ContinuousClock.Instant?
    private var peers: [EventLoop] = []
    private var nextPeer = 0
    private var stopRequested = false
    private var nextTimeoutScan = ContinuousClock.now
    /// Passes of the loop so far: a connection counts the requests it answered in one.
    private(set) var pass: UInt64 = 0
    /// Connections that stopped at ``ServerConnection/requestsPerPass`` with requests left in
    /// their buffer: they go on in the next pass, after every other connection had its turn.
    private var toResume: [ServerConnection] = []
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    private var cachedDate: (second: Int64, text: String) = (0, "")
    /// The inbox's contents being run; swapped with the inbox so neither array is reallocated.
    private var draining: [Work] = []

    init(index: Int, core: ServerCore) throws {
        self.index = index
        self.core = core
        epollFD = signet_epoll_create()
        guard epollFD >= 0 else { throw SocketError("epoll_create1") }
        wakeFD = signet_eventfd_create()
        guard wakeFD >= 0 else { throw SocketError("eventfd") }
        guard signet_epoll_add(epollFD, wakeFD, signet_epoll_in, Self.wakeToken) == 0 else {
            throw SocketError("epoll_ctl(eventfd)")
        }
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    /// Starts the loop's thread. `listener` is given to the loop that accepts; `peers` are all loops.
    /// The thread holds the loop until it exits; the loop keeps no reference to the thread, and
    /// lets go of its peers (itself among them) when it ends, so a stopped server is freed.
    func start(listener: Int32?, peers: [EventLoop]) {
        // Foundation's `Thread.name` does not reach the operating system here: the thread names
        // itself, so `top -H` and a profiler tell the loops apart.
        let name = "signet-loop-\(index)"
        let thread = Thread { [self] in
            _ = signet_name_current_thread(name)
            threadID.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
            if let listener { self.installListener(listener) }
            self.peers = peers
            self.runLoop()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Runs `work` on the loop's thread. From the loop thread itself no wake-up is needed: the
    /// loop drains its inbox before it waits again.
    func execute(_ work: @escaping @Sendable () -> Void) {
        submit(.closure(work))
    }

    private func submit(_ work: Work) {
        inbox.withLockedValue { $0.append(work) }
        if !inLoopThread {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Whether the caller runs on this loop's thread.
    var inLoopThread: Bool {
        threadID.load(ordering: .acquiring) == UInt(bitPattern: Int(bitPattern: pthread_self()))
    }

    /// Runs Swift tasks that prefer this loop (`Task(executorPreference:)`) on its thread: a
    /// request handler that does not suspend on something else never leaves the thread that
    /// owns its connection, so a cached decision costs no thread hand-off.
    func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Resumes when the loop's thread has exited.
    func waitUntilFinished() async {
        await withCheckedContinuation { continuation in
            let resumeNow = finished.withLockedValue { waiters -> Bool in
                if hasFinished.load(ordering: .acquiring) { return true }
                waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: - The loop

    private func runLoop() {
        var tokens = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        while true {
            let timeout: Int32 = !toResume.isEmpty ? 0 : connections.isEmpty && !stopRequested ? 500 : 100
            let count = signet_epoll_wait(epollFD, &tokens, &events, 256, timeout)
            pass &+= 1
            if count < 0 && errno != EINTR {
                core.logger.critical("epoll_wait failed", metadata: ["errno": "\(errno)"])
                break
            }
            for i in 0..<max(0, Int(count)) {
                switch tokens[i] {
                case Self.wakeToken:
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                case Self.listenerToken:
                    acceptConnections()
                default:
                    connections[tokens[i]]?.handle(events: events[i])
                }
            }
            resumeConnections()
            runInbox()
            core.configuration.beforeAnswersAreSent?()
            flushScheduled()
            let now = ContinuousClock.now
            if now >= nextTimeoutScan {
                nextTimeoutScan = now + .milliseconds(100)
                for connection in Array(connections.values) { connection.checkDeadlines(now: now) }
                if let pausedUntil = listenerPausedUntil, now >= pausedUntil { resumeListener() }
            }
            if stopRequested && connections.isEmpty { break }
        }
        closeListener()
        core.configuration.beforeAnswersAreSent?()
        // Every loop holds every loop (itself too) as a peer: a cycle that outlives the server
        // unless it is broken here. Connections are gone by now; the buffers go with the loop.
        peers = []
        toFlush = []
        toResume = []
        let waiters = finished.withLockedValue { waiters -> [CheckedContinuation<Void, Never>] in
            hasFinished.store(true, ordering: .releasing)
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func runInbox() {
        while true {
            var batch = draining
            draining = []
            inbox.withLockedValue { swap(&$0, &batch) }
            if batch.isEmpty {
                draining = batch
                return
            }
            for item in batch {
                switch item {
                case .closure(let work): work()
                case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
                }
            }
            batch.removeAll(keepingCapacity: true)
            draining = batch
        }
    }

    /// Lets `connection` go on with its buffered requests in the next pass.
    func resumeNextPass(_ connection: ServerConnection) {
        guard !connection.resumeScheduled else { return }
        connection.resumeScheduled = true
        toResume.append(connection)
    }

    private func resumeConnections() {
        guard !toResume.isEmpty else { return }
        let due = toResume
        toResume = []
        for connection in due { connection.resumeRequests() }
    }

    /// Connections whose responses are written at the end of this pass.
    private var toFlush: [ServerConnection] = []

    /// Writes `connection`'s output at the end of the loop's pass, after every ready request
    /// was answered: a client with several connections then finds their responses together
    /// instead of being woken for each one.
    func flushLater(_ connection: ServerConnection) {
        guard !connection.flushScheduled else { return }
        connection.flushScheduled = true
        toFlush.append(connection)
    }

    private func flushScheduled() {
        guard !toFlush.isEmpty else { return }
        for connection in toFlush { connection.flushScheduledOutput() }
        toFlush.removeAll(keepingCapacity: true)
    }

    // MARK: - Accepting

    private func installListener(_ fd: Int32) {
        listenerFD = fd
        _ = signet_epoll_add(epollFD, fd, signet_epoll_in, Self.listenerToken)
    }

    private func resumeListener() {
        listenerPausedUntil = nil
        if listenerFD >= 0 { _ = signet_epoll_add(epollFD, listenerFD, signet_epoll_in, Self.listenerToken) }
    }

    /// Stops accepting: the listening socket is closed (loop 0 only).
    func closeListener() {
        guard listenerFD >= 0 else { return }
        _ = signet_epoll_remove(epollFD, listenerFD)
        close(listenerFD)
        listenerFD = -1
    }

    private func acceptConnections() {
        guard listenerFD >= 0 else { return }
        for _ in 0..<256 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = signet_accept(listenerFD, &address, &length)
            if fd < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                default:
                    // Out of descriptors (EMFILE/ENFILE) or memory: stop polling the listener for a
                    // moment instead of spinning on a level-triggered event.
                    core.logger.error("accept failed; pausing accepts for 100 ms", metadata: ["errno": "\(errno)"])
                    _ = signet_epoll_remove(epollFD, listenerFD)
                    listenerPausedUntil = .now + .milliseconds(100)
                    return
                }
            }
            if core.isDraining {
                close(fd)
                continue
            }
            let peer = PeerAddress(address)
            let active: Int
            switch core.peers.admit(peer) {
            case .success(let total):
                active = total
            case .failure(let refusal):
                core.refused(refusal.reason, peer: peer)
                close(fd)
                continue
            }
            core.activeConnections.wrappingAdd(1, ordering: .relaxed)
            core.metrics.connectionsAccepted.increment()
            core.metrics.connectionsActive.record(active)
            _ = signet_set_nodelay(fd)
            let remote = Socket.describe(address).text
            let target = peers.isEmpty ? self : peers[nextPeer % peers.count]
            nextPeer &+= 1
            if target === self {
                adopt(fd: fd, remote: remote, peer: peer)
            } else {
                target.execute { target.adopt(fd: fd, remote: remote, peer: peer) }
            }
        }
    }

    /// Takes ownership of an accepted socket.
    func adopt(fd: Int32, remote: String, peer: PeerAddress?) {
        let engine: TLSEngine
        do {
            engine = try core.certificates.currentContext.makeEngine()
        } catch {
            core.logger.error("cannot create a TLS session", metadata: ["error": "\(error)"])
            close(fd)
            connectionClosed(peer: peer)
            return
        }
        let id = core.makeConnectionID()
        let connection = ServerConnection(id: id, fd: fd, remote: remote, peer: peer, engine: engine, loop: self)
        guard signet_epoll_add(epollFD, fd, signet_epoll_in | signet_epoll_rdhup, id) == 0 else {
            close(fd)
            connectionClosed(peer: peer)
            return
        }
        connections[id] = connection
        if core.isDraining { connection.beginDrain() }
    }

    // MARK: - Services for connections

    func connection(_ id: UInt64) -> ServerConnection? { connections[id] }

    func updateInterest(fd: Int32, id: UInt64, read: Bool, write: Bool) {
        var events: UInt32 = signet_epoll_rdhup
        if read { events |= signet_epoll_in }
        if write { events |= signet_epoll_out }
        _ = signet_epoll_modify(epollFD, fd, events, id)
    }

    /// Removes a connection whose socket the connection itself has closed.
    func remove(_ connection: ServerConnection) {
        _ = signet_epoll_remove(epollFD, connection.fd)
        connections.removeValue(forKey: connection.id)
        connectionClosed(peer: connection.peer)
    }

    private func connectionClosed(peer: PeerAddress?) {
        core.activeConnections.wrappingSubtract(1, ordering: .relaxed)
        core.metrics.connectionsActive.record(core.peers.release(peer))
    }

    /// The IMF-fixdate for the current second (RFC 9110 §6.6.1), formatted once a second.
    func dateHeader() -> String {
        let now = Date()
        let second = Int64(now.timeIntervalSince1970)
        if second != cachedDate.second {
            cachedDate = (second, HTTPResponseEncoder.imfFixdate(now))
        }
        return cachedDate.text
    }

    // MARK: - Shutdown

    /// Graceful phase: stop accepting, close idle connections, let busy ones finish.
    func beginDrain() {
        closeListener()
        for connection in Array(connections.values) { connection.beginDrain() }
    }

    /// Final phase: close whatever is left and end the thread.
    func stop(force: Bool) {
        if force {
            for connection in Array(connections.values) { connection.closeNow() }
        }
        stopRequested = true
    }
}
