/// How many bytes of response bodies the transfers of one ``CurlMultiDriver`` may hold at once.
///
/// Each transfer is capped on its own (``HTTPRequest/maximumResponseBytes``), but registries that
/// answer many transfers at once with large bodies, or drip them out, would otherwise make the
/// process hold the sum of every cap. When a transfer needs room that is not there, the
/// transfer holding the most is stopped and its bytes freed, as often as it takes; the one
/// asking is stopped instead when it holds the most itself. So the bytes held never pass the
/// limit, small answers (tokens, manifests, signatures) are never held up by large ones, and a
/// registry that fills the budget with slow answers loses its own transfers first. The callers
/// of a stopped transfer may try again (``TransportFailure/overBudget(limit:)``).
///
/// Transfers are not paused instead: libcurl 7.x keeps reading a paused HTTP/2 stream up to its
/// flow-control window (32 MiB, `curl_easy_pause(3)`, "MULTIPLEXED") into buffers of its own,
/// past any cap, and a budget that waits lets slow answers hold everyone else up until their
/// deadline.
///
/// A plain state machine, used by the driver thread alone: told how much more room a transfer's
/// body takes, it answers whether to take it and which transfers to stop.
struct ResponseBufferBudget {
    /// Identifies one transfer for as long as it runs.
    typealias TransferID = Int

    /// What to do when a transfer's body needs more room.
    enum Admission: Equatable {
        /// Take the room, after stopping these transfers (their bytes are already given back).
        case take(stopping: [TransferID])
        /// Stop the transfer asking: it would hold the most. Its bytes are already given back.
        case stop
    }

    /// The most bytes held at once.
    let limit: Int
    /// Bytes held by running transfers.
    private(set) var buffered = 0
    /// The most bytes held at once since the budget was made.
    private(set) var peak = 0
    private var held: [TransferID: Int] = [:]

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Whether `transfer` may hold `count` more bytes, and which transfers make room for it.
    ///
    /// With the budget full, stopping the largest holder always makes room: it holds more than
    /// the asker would, so more than `count`. So at most one transfer is stopped per request.
    mutating func admit(_ count: Int, for transfer: TransferID) -> Admission {
        var stopping: [TransferID] = []
        while buffered + count > limit {
            // The largest holder, counting the room asked for as the asker's.
            let asking = (held[transfer] ?? 0) + count
            guard let (largest, bytes) = held.max(by: { $0.value < $1.value }), largest != transfer, bytes > asking else {
                finish(transfer)
                return .stop
            }
            finish(largest)
            stopping.append(largest)
        }
        held[transfer, default: 0] += count
        buffered += count
        peak = max(peak, buffered)
        return .take(stopping: stopping)
    }

    /// `transfer` dropped `count` bytes it held (the body of a response it was redirected from).
    mutating func release(_ count: Int, of transfer: TransferID) {
        guard let current = held[transfer] else { return }
        let released = min(count, current)
        buffered -= released
        held[transfer] = current - released == 0 ? nil : current - released
    }

    /// `transfer` ended or was stopped: everything it held is free.
    mutating func finish(_ transfer: TransferID) {
        if let current = held.removeValue(forKey: transfer) {
            buffered -= current
        }
    }

    /// Bytes `transfer` holds.
    func bytes(heldBy transfer: TransferID) -> Int { held[transfer] ?? 0 }
}
