import Foundation
import NIOConcurrencyHelpers
import SignetTestSupport
import Testing

@testable import SignetHTTPClient

/// A registry that accepts connections and never answers: every transfer to it ends at its
/// deadline and says so (``TransportFailure/deadlineExceeded``, which the registry client turns
/// into "deadline passed"), never as curl's own "Operation timed out", and never before the
/// deadline.
///
/// The deadlines are a fraction of a millisecond short of whole milliseconds away: curl counts
/// its timeout in whole milliseconds from when it starts the transfer, so a timeout of curl's
/// taken from the time remaining fired just before the deadline, and the failure named curl's
/// timeout instead of the deadline.
@Suite
struct TransportDeadlineTests {
    @Test func aServerThatNeverAnswersFailsEveryTransferAtItsDeadline() async throws {
        let server = try SilentServer()
        defer { server.stop() }
        let driver = try CurlMultiDriver(settings: CurlTransferSettings(
            caBundlePath: nil, connectTimeout: .seconds(30), lowSpeedTimeout: .seconds(300), maximumRedirects: 0,
            userAgent: "signet-test"))
        defer { driver.shutdown() }
        var outcomes: [String] = []
        for round in 0..<4 {
            let found = await withTaskGroup(of: String.self) { group in
                for index in 0..<25 {
                    group.addTask {
                        let deadline = ContinuousClock.now + .milliseconds(200 + 3 * index + round) + .microseconds(990)
                        let request = HTTPRequest(
                            method: .get, url: "http://127.0.0.1:\(server.port)/v2/", maximumResponseBytes: 4096, deadline: deadline)
                        do {
                            let response = try await driver.perform(request)
                            return "answered \(response.status)"
                        } catch TransportFailure.deadlineExceeded {
                            return ContinuousClock.now >= deadline ? "deadline" : "deadline reported before it passed"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                var found: [String] = []
                for await outcome in group { found.append(outcome) }
                return found
            }
            outcomes += found
        }
        let other = outcomes.filter { $0 != "deadline" }
        #expect(outcomes.count == 100)
        #expect(other.isEmpty, "\(other.count) of \(outcomes.count) transfers did not end at the deadline: \(Set(other).sorted())")
    }

    @Test func pollTimeoutNeverSleepsPastTheEarliestDeadline() {
        let now = ContinuousClock.now
        #expect(CurlMultiDriver.pollTimeout(until: nil, now: now) == 1000)
        #expect(CurlMultiDriver.pollTimeout(until: now + .seconds(5), now: now) == 1000)
        #expect(CurlMultiDriver.pollTimeout(until: now + .milliseconds(20), now: now) == 20)
        // Rounded up: waking a fraction of a millisecond early would find the deadline not yet come.
        #expect(CurlMultiDriver.pollTimeout(until: now + .microseconds(20_100), now: now) == 21)
        #expect(CurlMultiDriver.pollTimeout(until: now + .microseconds(1), now: now) == 1)
        #expect(CurlMultiDriver.pollTimeout(until: now, now: now) == 0)
        #expect(CurlMultiDriver.pollTimeout(until: now - .seconds(1), now: now) == 0)
    }
}

/// A TCP server on 127.0.0.1 that accepts connections, reads nothing and never answers: a
/// registry that hangs. Connections are held open until ``stop()``.
private final class SilentServer: Sendable {
    let port: Int
    private let listener: Int32
    /// The connections accepted, and whether ``stop()`` was called.
    private let state = NIOLockedValueBox((accepted: [Int32](), stopped: false))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestProcessError(message: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            close(fd)
            throw TestProcessError(message: "bind/listen on 127.0.0.1: errno \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptConnections() }
        thread.name = "silent-server"
        thread.start()
    }

    deinit { close(listener) }

    /// Accepts until ``stop()`` shuts the listener down (at most 10,000 connections).
    private func acceptConnections() {
        for _ in 0..<10_000 {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            let kept = state.withLockedValue { state -> Bool in
                guard !state.stopped else { return false }
                state.accepted.append(connection)
                return true
            }
            if !kept {
                close(connection)
                return
            }
        }
    }

    /// Stops accepting and closes every connection accepted.
    func stop() {
        let connections = state.withLockedValue { state -> [Int32] in
            state.stopped = true
            defer { state.accepted = [] }
            return state.accepted
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for connection in connections { close(connection) }
    }
}
