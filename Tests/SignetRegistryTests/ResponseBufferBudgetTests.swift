import NIOConcurrencyHelpers
import SignetTestSupport
import Testing

@testable import SignetHTTPClient

/// The room the response bodies of all transfers of a driver take at once is bounded: when a
/// transfer needs room that is not there, the one holding the most is stopped, so the bytes held
/// never pass the limit and small answers are never held up by large ones.
@Suite
struct ResponseBufferBudgetTests {
    @Test
    func takesWhileThereIsRoomThenStopsTheLargestHolder() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(60, for: 1) == .take(stopping: []))
        #expect(budget.admit(30, for: 2) == .take(stopping: []))
        // 3 asks for 20 with 90 held: 1 holds the most and makes room.
        #expect(budget.admit(20, for: 3) == .take(stopping: [1]))
        #expect(budget.buffered == 50)
        #expect(budget.bytes(heldBy: 1) == 0)
        // 2 asks for 60 more: it would hold 90, more than anyone else, so it is stopped itself.
        #expect(budget.admit(60, for: 2) == .stop)
        #expect(budget.buffered == 20)
        #expect(budget.bytes(heldBy: 2) == 0)
        #expect(budget.peak == 90)
    }

    @Test
    func theLargestOfSeveralHoldersMakesRoom() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(34, for: 2) == .take(stopping: []))
        #expect(budget.admit(35, for: 1) == .take(stopping: []))
        #expect(budget.admit(31, for: 3) == .take(stopping: []))
        // One stop always suffices: the largest holder holds more than the room asked for.
        #expect(budget.admit(30, for: 5) == .take(stopping: [1]))
        #expect(budget.buffered == 95)
        #expect(budget.bytes(heldBy: 2) == 34)
        #expect(budget.bytes(heldBy: 3) == 31)
    }

    @Test
    func aRequestLargerThanTheLimitStopsOnlyTheAsker() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(40, for: 1) == .take(stopping: []))
        #expect(budget.admit(101, for: 2) == .stop)
        #expect(budget.buffered == 40, "the holder that fits is left alone")
    }

    @Test
    func releasedAndFinishedRoomIsFree() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(70, for: 1) == .take(stopping: []))
        budget.release(50, of: 1)
        #expect(budget.buffered == 20)
        budget.release(500, of: 1)
        #expect(budget.buffered == 0)
        #expect(budget.admit(30, for: 2) == .take(stopping: []))
        budget.finish(2)
        budget.finish(2)
        #expect(budget.buffered == 0)
    }

    /// Transfers of random sizes growing their room as `CurlTransfer` does (doubling), in a
    /// random order, a stopped one starting over up to three times as the registry client
    /// retries: the room held never passes the limit, always equals what the live transfers
    /// hold, and every transfer ends.
    @Test(arguments: [1, 7, 42])
    func theRoomHeldStaysWithinTheLimit(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let limit = 256 * 1024
        let sizes = (0..<60).map { index in
            index % 4 == 0 ? Int(random.next() % UInt64(limit)) + 1 : Int(random.next() % 32768) + 1
        }
        var received = [Int](repeating: 0, count: sizes.count)
        var room = [Int](repeating: 0, count: sizes.count)
        var attempts = [Int](repeating: 1, count: sizes.count)
        var ended = Set<Int>()
        var completed = Set<Int>()
        var budget = ResponseBufferBudget(limit: limit)
        func stop(_ transfer: Int) {
            received[transfer] = 0
            room[transfer] = 0
            if attempts[transfer] == 3 { ended.insert(transfer) } else { attempts[transfer] += 1 }
        }
        var steps = 0
        while ended.count < sizes.count && steps < 200_000 {
            steps += 1
            guard let transfer = sizes.indices.filter({ !ended.contains($0) }).randomElement(using: &random) else { break }
            let chunk = min(16 * 1024, sizes[transfer] - received[transfer], Int(random.next() % 16384) + 1)
            let needed = received[transfer] + chunk
            if needed > room[transfer] {
                let grown = min(max(needed, room[transfer] * 2), sizes[transfer])
                switch budget.admit(grown - room[transfer], for: transfer) {
                case .stop:
                    stop(transfer)
                    continue
                case .take(let stopping):
                    for victim in stopping { stop(victim) }
                    room[transfer] = grown
                }
            }
            received[transfer] = needed
            if needed == sizes[transfer] {
                budget.finish(transfer)
                room[transfer] = 0
                ended.insert(transfer)
                completed.insert(transfer)
            }
            #expect(budget.buffered <= limit)
            #expect(budget.buffered == room.reduce(0, +), "the budget and the transfers disagree")
        }
        #expect(ended.count == sizes.count, "transfers left unfinished after \(steps) steps")
        #expect(budget.buffered == 0)
        #expect(budget.peak > limit / 2, "the run never filled the budget, so it tested little")
        // Small answers get through: each one of at most 16 KiB completed.
        let small = sizes.indices.filter { sizes[$0] <= 16 * 1024 }
        #expect(small.allSatisfy { completed.contains($0) })
    }

    /// Eight registry answers of 256 KiB, dripped in 16 KiB pieces at once, through a driver
    /// whose budget is 1 MiB: each arrives whole or fails as stopped for the budget, some are
    /// stopped, and the room held never passes the budget. With no effective budget the same
    /// answers take more than it side by side, all arriving.
    @Test(arguments: [1024 * 1024, Int.max])
    func aDriverStopsTheLargestHoldersPastItsBudget(limit: Int) async throws {
        let size = 256 * 1024
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/blobs/large": [.init(body: body, gather: 8, pieceInterval: 0.01)]
        ])
        defer { stub.stop() }
        let levels = NIOLockedValueBox<[ResponseBufferLevel]>([])
        var settings = CurlTransferSettings(
            caBundlePath: nil, connectTimeout: .seconds(30), lowSpeedTimeout: .seconds(300), maximumRedirects: 0,
            userAgent: "signet-test")
        settings.responseBufferLimit = limit
        settings.onResponseBufferChange = { level in levels.withLockedValue { $0.append(level) } }
        let driver = try CurlMultiDriver(settings: settings)
        defer { driver.shutdown() }
        let outcomes = await withTaskGroup(of: Result<[UInt8], TransportFailure>.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let request = HTTPRequest(
                        method: .get, url: "http://\(stub.host)/v2/demo/app/blobs/large", maximumResponseBytes: size,
                        deadline: .now + .seconds(60))
                    do {
                        return .success(try await driver.perform(request).body)
                    } catch let failure as TransportFailure {
                        return .failure(failure)
                    } catch {
                        return .failure(.invalidRequest("\(error)"))
                    }
                }
            }
            var outcomes: [Result<[UInt8], TransportFailure>] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.count == 8)
        #expect(stub.peakConcurrentRequests == 8)
        let seen = levels.withLockedValue { $0 }
        let peak = seen.map(\.bufferedBytes).max() ?? 0
        let stopped = seen.map(\.stoppedTransfers).reduce(0, +)
        #expect(seen.last?.bufferedBytes == 0, "room is left held once every transfer ended")
        var arrived = 0
        for outcome in outcomes {
            switch outcome {
            case .success(let received):
                #expect(received == body, "an answer arrived cut")
                arrived += 1
            case .failure(.overBudget(let reportedLimit)):
                #expect(reportedLimit == limit)
            case .failure(let failure):
                Issue.record("a transfer failed otherwise: \(failure)")
            }
        }
        if limit == Int.max {
            #expect(arrived == 8)
            #expect(peak > 1024 * 1024, "the answers never took more than 1 MiB side by side (peak \(peak) bytes)")
            #expect(stopped == 0)
        } else {
            #expect(peak <= limit, "held \(peak) bytes, more than the budget")
            #expect(stopped >= 1 && stopped == 8 - arrived, "\(stopped) stopped, \(arrived) of 8 arrived")
        }
    }
}

/// A small deterministic generator (SplitMix64) so a failing run can be replayed.
private struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
