/// How much room the bodies of the responses being downloaded by one ``CurlMultiDriver`` may take
/// at once.
///
/// Each transfer is capped on its own (``HTTPRequest/maximumResponseBytes``), but registries that
/// answer many transfers at once with large bodies, or drip them out, would otherwise make the
/// process hold the sum of every cap. A transfer counts the room its body takes before taking
/// it. When the room is not there, transfers are stopped one at a time: the largest of the group
/// (``HTTPRequest/budgetGroup``: the namespace of the admission it serves) holding the most,
/// counting the room asked for as the asker's. So the room counted never passes the limit, and a
/// namespace can lose downloads only while it holds more than any other: filling the budget
/// with slow answers from one namespace stops that namespace's downloads, never another's. The
/// callers of a stopped transfer may try again (``TransportFailure/overBudget(limit:)``).
///
/// Transfers are not paused instead: libcurl 7.x keeps reading a paused HTTP/2 stream into
/// buffers of its own up to its flow-control window (32 MiB, `curl_easy_pause(3)`,
/// "MULTIPLEXED"), past any cap, and a budget that waits lets slow answers hold everyone else
/// up until their deadline.
///
/// A plain state machine, used by the driver thread alone: told how much more room a transfer's
/// body takes, it answers whether to take it and which transfer to stop.
struct ResponseBufferBudget {
    /// Identifies one transfer for as long as it runs.
    typealias TransferID = Int

    /// What to do when a transfer's body needs more room.
    enum Admission: Equatable {
        /// Take the room, after stopping these transfers (their room is already given back).
        case take(stopping: [TransferID])
        /// Stop the transfer asking: it is the largest of the group holding the most. Its room
        /// is already given back.
        case stop
    }

    /// The most room held at once.
    let limit: Int
    /// Room held by running transfers.
    private(set) var buffered = 0
    /// The most room held at once since the budget was made.
    private(set) var peak = 0
    private var held: [TransferID: (group: String, room: Int)] = [:]
    private var groups: [String: Int] = [:]

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Whether `transfer`, downloading for `group`, may take `count` more bytes of room, and
    /// which transfers make room for it (several when the group holding the most holds it in
    /// many small transfers).
    mutating func admit(_ count: Int, for transfer: TransferID, group: String) -> Admission {
        var stopping: [TransferID] = []
        while buffered + count > limit {
            let victim = victim(for: transfer, group: group, asking: count)
            finish(victim)
            if victim == transfer { return .stop }
            stopping.append(victim)
        }
        held[transfer, default: (group, 0)].room += count
        groups[group, default: 0] += count
        buffered += count
        peak = max(peak, buffered)
        return .take(stopping: stopping)
    }

    /// The transfer to stop so `transfer` gets `asking` more room: the largest of the group
    /// holding the most, counting the room asked for as the asker's; on a tie, the asker's own
    /// group, and in it the asker.
    private func victim(for transfer: TransferID, group: String, asking: Int) -> TransferID {
        let askerGroupRoom = (groups[group] ?? 0) + asking
        var heaviest = (group: group, room: askerGroupRoom)
        for (name, room) in groups where name != group && room > heaviest.room {
            heaviest = (name, room)
        }
        var largest = (id: transfer, room: (held[transfer]?.room ?? 0) + asking)
        for (id, entry) in held where entry.group == heaviest.group && id != transfer {
            if entry.room > largest.room || (largest.id == transfer && heaviest.group != group) {
                largest = (id, entry.room)
            }
        }
        return largest.id
    }

    /// `transfer` dropped `count` bytes of room (the body of a response it was redirected from).
    mutating func release(_ count: Int, of transfer: TransferID) {
        guard let entry = held[transfer] else { return }
        let released = min(count, entry.room)
        buffered -= released
        remove(released, from: entry.group)
        held[transfer] = entry.room == released ? nil : (entry.group, entry.room - released)
    }

    /// `transfer` ended or was stopped: all its room is free.
    mutating func finish(_ transfer: TransferID) {
        guard let entry = held.removeValue(forKey: transfer) else { return }
        buffered -= entry.room
        remove(entry.room, from: entry.group)
    }

    private mutating func remove(_ room: Int, from group: String) {
        let left = (groups[group] ?? 0) - room
        groups[group] = left > 0 ? left : nil
    }

    /// Room `transfer` holds.
    func room(heldBy transfer: TransferID) -> Int { held[transfer]?.room ?? 0 }

    /// Room the transfers of `group` hold.
    func room(heldByGroup group: String) -> Int { groups[group] ?? 0 }
}
