import CSignetCurl
import CSignetSystem
import Foundation
import NIOConcurrencyHelpers

/// Runs libcurl's multi interface on one dedicated thread and bridges finished transfers to async
/// callers.
///
/// The thread loops over `curl_multi_perform` and `curl_multi_poll`; callers put transfers in a
/// locked queue and wake it with `curl_multi_wakeup`. Nothing here blocks a thread of Swift's
/// cooperative pool: callers suspend on a continuation that the driver thread resumes.
///
/// Each transfer ends at its request's deadline, measured by `ContinuousClock` as callers set
/// it: the thread never sleeps past the earliest deadline of a running transfer and fails the
/// overdue ones with ``TransportFailure/deadlineExceeded``. curl's own timeout, in whole
/// milliseconds from when curl started the transfer, could fire a hair before the deadline and
/// name curl's timeout instead; it is only a backstop set past the deadline.
///
/// With ``CurlTransferSettings/responseBufferLimit``, the room the bodies of the responses being
/// downloaded take at once is bounded (``ResponseBufferBudget``): past it, the largest download of
/// the group holding the most is stopped.
///
/// A transfer ended while its host name is being looked up leaves the lookup running on curl's
/// resolver thread; ``UnfinishedLookups`` bounds how many lookups may be under way or left so.
///
/// All transfers of a driver share one multi handle (its connection cache and DNS cache, and
/// HTTP/2 multiplexing) and one share handle for TLS sessions, so repeated calls to a registry
/// reuse the connection and skip full TLS handshakes.
package final class CurlMultiDriver: @unchecked Sendable {
    // `multi` and `share` are created in init and used only by the driver thread afterwards
    // (curl_multi_wakeup, which is thread-safe, is the exception; it runs under the lock while
    // the handle is known to be open). `active` is touched only by the driver thread. Everything
    // other threads touch lives in `state`, behind its lock.
    private let multi: UnsafeMutableRawPointer
    private let share: UnsafeMutableRawPointer?
    private let settings: CurlTransferSettings
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    /// The room response bodies take, the transfers counted in it, and those it stopped that
    /// are still to be completed (driver thread only).
    private var budget: ResponseBufferBudget?
    private var budgeted: [ResponseBufferBudget.TransferID: CurlTransfer] = [:]
    private var stoppedForBudget: [CurlTransfer] = []
    private var nextTransferID = 0
    /// Host name lookups ended transfers left running (driver thread only).
    private let unfinishedLookups: UnfinishedLookups
    private let state = NIOLockedValueBox(QueueState())

    private struct QueueState: Sendable {
        var pending: [CurlTransfer] = []
        var cancelling: [CurlTransfer] = []
        var stopping = false
        var closed = false
    }

    /// Libcurl's global initialisation, which must happen once before any handle exists.
    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    package init(settings: CurlTransferSettings) throws(TransportFailure) {
        guard Self.globalInit else { throw .invalidRequest("curl_global_init failed") }
        guard let multi = curl_multi_init() else { throw .invalidRequest("curl_multi_init failed") }
        self.multi = multi
        self.settings = settings
        budget = settings.responseBufferLimit.map(ResponseBufferBudget.init(limit:))
        unfinishedLookups = UnfinishedLookups(limit: settings.maximumUnfinishedLookups, allowance: settings.unfinishedLookupAllowance)
        _ = signet_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        _ = signet_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8)
        let share = curl_share_init()
        if let share {
            _ = signet_curl_share_setopt_lock_data(share, CURL_LOCK_DATA_SSL_SESSION)
            _ = signet_curl_share_setopt_lock_data(share, CURL_LOCK_DATA_DNS)
        }
        self.share = share
        let thread = Thread { [self] in
            _ = signet_name_current_thread("signet-curl")
            run()
        }
        thread.name = "signet-curl"
        thread.start()
    }

    /// Stops the driver thread; transfers still running fail as cancelled. Idempotent.
    package func shutdown() {
        state.withLockedValue { state in
            guard !state.closed, !state.stopping else { return }
            state.stopping = true
            curl_multi_wakeup(multi)
        }
    }

    /// Performs `request`, suspending until the driver thread has the response.
    package func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = try CurlTransfer(request, settings: settings)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                let refusal: (any Error)? = state.withLockedValue { state in
                    if transfer.cancelRequested { return TransportFailure.cancelled }
                    if state.stopping || state.closed { return TransportFailure.invalidRequest("the registry client was shut down") }
                    transfer.continuation = continuation
                    state.pending.append(transfer)
                    curl_multi_wakeup(multi)
                    return nil
                }
                if let refusal { continuation.resume(throwing: refusal) }
            }
        } onCancel: {
            cancel(transfer)
        }
    }

    private func cancel(_ transfer: CurlTransfer) {
        let continuation: CheckedContinuation<HTTPResponse, any Error>? = state.withLockedValue { state in
            transfer.cancelRequested = true
            if let index = state.pending.firstIndex(where: { $0 === transfer }) {
                state.pending.remove(at: index)
                defer { transfer.continuation = nil }
                return transfer.continuation
            }
            if transfer.continuation != nil && !state.closed {
                state.cancelling.append(transfer)
                curl_multi_wakeup(multi)
            }
            return nil
        }
        continuation?.resume(throwing: TransportFailure.cancelled)
    }

    // MARK: - The driver thread

    private func run() {
        var running: Int32 = 0
        while true {
            let (added, cancelled, stopping) = state.withLockedValue { state in
                defer {
                    state.pending.removeAll()
                    state.cancelling.removeAll()
                }
                return (state.pending, state.cancelling, state.stopping)
            }
            for transfer in added {
                start(transfer)
            }
            for transfer in cancelled {
                complete(transfer, with: .failure(.cancelled))
            }
            if stopping { break }

            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active[easy] else { continue }
                let code = signet_curl_msg_result(message)
                let expired = ContinuousClock.now >= transfer.request.deadline
                complete(transfer, with: transfer.finish(code: code, deadlineExpired: expired, budgetLimit: budget?.limit ?? 0))
            }
            completeStoppedTransfers()
            for transfer in unfinishedLookups.resolving where transfer.lookupFinished() { unfinishedLookups.finish(transfer) }
            let nextDeadline = expireOverdueTransfers()
            // Sleeps until a socket is ready, curl's own timer fires, a caller wakes us, or the
            // earliest deadline of a running transfer comes.
            curl_multi_poll(multi, nil, 0, Self.pollTimeout(until: nextDeadline), nil)
        }
        for transfer in Array(active.values) {
            complete(transfer, with: .failure(.cancelled))
        }
        state.withLockedValue { state in
            state.closed = true
            for transfer in state.pending + state.cancelling where transfer.continuation != nil {
                transfer.continuation?.resume(throwing: TransportFailure.cancelled)
                transfer.continuation = nil
            }
            state.pending.removeAll()
            state.cancelling.removeAll()
        }
        curl_multi_cleanup(multi)
        if let share { curl_share_cleanup(share) }
    }

    /// Ends, as past their deadline, the running transfers whose deadline has come by the clock
    /// their callers set it with (curl's own timeout is only a backstop past it; see
    /// ``CurlTransfer``), and returns the earliest deadline among those still running.
    private func expireOverdueTransfers() -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        var overdue: [CurlTransfer] = []
        var earliest: ContinuousClock.Instant?
        for transfer in active.values {
            let deadline = transfer.request.deadline
            if deadline <= now {
                overdue.append(transfer)
            } else if earliest.map({ deadline < $0 }) ?? true {
                earliest = deadline
            }
        }
        for transfer in overdue {
            complete(transfer, with: .failure(.deadlineExceeded))
        }
        return earliest
    }

    /// Milliseconds `curl_multi_poll` may sleep: at most a second, and never past `deadline`
    /// (rounded up, so the driver wakes at or after it, never just before).
    static func pollTimeout(until deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant = .now) -> Int32 {
        let longest = 1000
        guard let deadline else { return Int32(longest) }
        let remaining = now.duration(to: deadline)
        guard remaining > .zero else { return 0 }
        return Int32(min(longest, CurlTransfer.millisecondsRoundedUp(remaining)))
    }

    private func start(_ transfer: CurlTransfer) {
        guard let easy = transfer.easy else {
            complete(transfer, with: .failure(.cancelled))
            return
        }
        if let share {
            _ = signet_curl_easy_setopt_share(easy, share)
        }
        guard curl_multi_add_handle(multi, easy) == CURLM_OK else {
            complete(transfer, with: .failure(.invalidRequest("curl_multi_add_handle failed")))
            return
        }
        active[easy] = transfer
        transfer.unfinishedLookups = unfinishedLookups
        if budget != nil && transfer.request.bodyStream == nil {
            let id = nextTransferID
            nextTransferID += 1
            transfer.budgetID = id
            budgeted[id] = transfer
            transfer.bodyBudget = (
                admit: { [unowned self, group = transfer.request.budgetGroup] count in admitBody(count, id: id, group: group) },
                discard: { [unowned self] count in
                    budget?.release(count, of: id)
                    reportBuffer(stopped: 0)
                })
        }
    }

    // MARK: - The response buffer budget

    /// Whether the transfer `id` may take `count` more bytes of room for its body; transfers the
    /// budget stops to make room drop their bodies now and are completed after this turn.
    private func admitBody(_ count: Int, id: ResponseBufferBudget.TransferID, group: String) -> Bool {
        guard let admission = budget?.admit(count, for: id, group: group) else { return true }
        switch admission {
        case .take(let stopping):
            for victim in stopping {
                guard let transfer = budgeted[victim] else { continue }
                transfer.stopForBudget()
                stoppedForBudget.append(transfer)
            }
            reportBuffer(stopped: stopping.count)
            return true
        case .stop:
            reportBuffer(stopped: 1)
            return false
        }
    }

    /// Fails the transfers the budget stopped while curl ran others (outside curl's callbacks,
    /// where a handle may leave the multi handle).
    private func completeStoppedTransfers() {
        guard !stoppedForBudget.isEmpty else { return }
        let stopped = stoppedForBudget
        stoppedForBudget.removeAll()
        for transfer in stopped {
            complete(transfer, with: .failure(.overBudget(limit: budget?.limit ?? 0)))
        }
    }

    private func reportBuffer(stopped: Int) {
        guard let budget, let observer = settings.onResponseBufferChange else { return }
        observer(ResponseBufferLevel(bufferedBytes: budget.buffered, stoppedTransfers: stopped))
    }

    /// Takes the transfer out of the multi handle, frees its easy handle and resumes its caller.
    /// A transfer already completed (cancelled and finished in the same turn) is left alone.
    private func complete(_ transfer: CurlTransfer, with result: Result<HTTPResponse, TransportFailure>) {
        if let easy = transfer.easy, active.removeValue(forKey: easy) != nil {
            curl_multi_remove_handle(multi, easy)
        }
        if let id = transfer.budgetID, budgeted.removeValue(forKey: id) != nil {
            budget?.finish(id)
            transfer.bodyBudget = nil
            reportBuffer(stopped: 0)
        }
        if transfer.leavesLookupRunning() {
            unfinishedLookups.leave(transfer)
        } else {
            unfinishedLookups.finish(transfer)
        }
        transfer.close()
        let continuation: CheckedContinuation<HTTPResponse, any Error>? = state.withLockedValue { _ in
            defer { transfer.continuation = nil }
            return transfer.continuation
        }
        switch result {
        case .success(let response): continuation?.resume(returning: response)
        case .failure(let failure): continuation?.resume(throwing: failure)
        }
    }
}
