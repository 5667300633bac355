import NIOConcurrencyHelpers
import SignetTestSupport
import Testing

@testable import SignetHTTPClient

/// The room the bodies of the responses being downloaded take at once is bounded: when a
/// transfer needs room that is not there, the largest download of the group (the admission's
/// namespace) holding the most is stopped, so the room counted never passes the limit and a
/// namespace loses downloads only while it holds more than any other.
@Suite
struct ResponseBufferBudgetTests {
    @Test
    func withinOneGroupTheLargestHolderMakesRoom() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(60, for: 1, group: "a") == .take(stopping: []))
        #expect(budget.admit(30, for: 2, group: "a") == .take(stopping: []))
        // 3 asks for 20 with 90 held: 1 holds the most and makes room.
        #expect(budget.admit(20, for: 3, group: "a") == .take(stopping: [1]))
        #expect(budget.buffered == 50)
        #expect(budget.room(heldBy: 1) == 0)
        // 2 asks for 60 more: it would hold 90, more than anyone else, so it is stopped itself.
        #expect(budget.admit(60, for: 2, group: "a") == .stop)
        #expect(budget.buffered == 20)
        #expect(budget.room(heldBy: 2) == 0)
        #expect(budget.peak == 90)
    }

    /// A namespace that fills the budget with many small slow downloads cannot make another
    /// namespace's larger download lose: its own downloads are stopped, as many as it takes.
    @Test
    func theGroupHoldingTheMostLosesEvenWithSmallerDownloads() throws {
        var budget = ResponseBufferBudget(limit: 100)
        for id in 1...10 { #expect(budget.admit(10, for: id, group: "attacker") == .take(stopping: [])) }
        let admission = budget.admit(35, for: 20, group: "tenant")
        guard case .take(let stopping) = admission else {
            Issue.record("the tenant's download was stopped: \(admission)")
            return
        }
        #expect(stopping.count == 4 && stopping.allSatisfy { (1...10).contains($0) })
        #expect(budget.room(heldByGroup: "attacker") == 60)
        #expect(budget.room(heldBy: 20) == 35)
        #expect(budget.buffered == 95)
    }

    @Test
    func aRequestLargerThanTheLimitStopsOnlyTheAsker() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(40, for: 1, group: "a") == .take(stopping: []))
        #expect(budget.admit(101, for: 2, group: "b") == .stop)
        #expect(budget.buffered == 40, "the holder that fits is left alone")
    }

    @Test
    func onATieTheAskersGroupGivesWay() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(50, for: 1, group: "a") == .take(stopping: []))
        #expect(budget.admit(30, for: 2, group: "b") == .take(stopping: []))
        #expect(budget.admit(20, for: 4, group: "c") == .take(stopping: []))
        // b would hold 50 with the 20 asked for, as much as a: b gives way, by its largest.
        #expect(budget.admit(20, for: 3, group: "b") == .take(stopping: [2]))
        #expect(budget.room(heldByGroup: "a") == 50)
        // The asker's group would hold the most and the asker is its largest: it is stopped.
        #expect(budget.admit(10, for: 5, group: "d") == .take(stopping: []))
        #expect(budget.admit(50, for: 5, group: "d") == .stop)
    }

    @Test
    func releasedAndFinishedRoomIsFree() {
        var budget = ResponseBufferBudget(limit: 100)
        #expect(budget.admit(70, for: 1, group: "a") == .take(stopping: []))
        budget.release(50, of: 1)
        #expect(budget.buffered == 20)
        #expect(budget.room(heldByGroup: "a") == 20)
        budget.release(500, of: 1)
        #expect(budget.buffered == 0)
        #expect(budget.room(heldByGroup: "a") == 0)
        #expect(budget.admit(30, for: 2, group: "a") == .take(stopping: []))
        budget.finish(2)
        budget.finish(2)
        #expect(budget.buffered == 0)
    }

    /// Transfers of random sizes in three groups, growing their room as `CurlTransfer` does
    /// (doubling), in a random order, a stopped one starting over up to three times as the
    /// registry client retries: the room held never passes the limit and always equals what the
    /// live transfers hold, every transfer ends, and a group only ever loses a download when,
    /// with the room asked for, it holds at least as much as every other group.
    @Test(arguments: [1, 7, 42])
    func theRoomHeldStaysWithinTheLimitAndOnlyTheHeaviestGroupLoses(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let limit = 256 * 1024
        let sizes = (0..<60).map { index in
            index % 4 == 0 ? Int(random.next() % UInt64(limit)) + 1 : Int(random.next() % 32768) + 1
        }
        let groupOf = sizes.indices.map { ["a", "b", "c"][$0 % 3] }
        var received = [Int](repeating: 0, count: sizes.count)
        var room = [Int](repeating: 0, count: sizes.count)
        var attempts = [Int](repeating: 1, count: sizes.count)
        var ended = Set<Int>()
        var budget = ResponseBufferBudget(limit: limit)
        func stop(_ transfer: Int) {
            received[transfer] = 0
            room[transfer] = 0
            if attempts[transfer] == 3 { ended.insert(transfer) } else { attempts[transfer] += 1 }
        }
        func groupRoom(_ group: String) -> Int { sizes.indices.filter { groupOf[$0] == group }.map { room[$0] }.reduce(0, +) }
        var steps = 0
        while ended.count < sizes.count && steps < 200_000 {
            steps += 1
            guard let transfer = sizes.indices.filter({ !ended.contains($0) }).randomElement(using: &random) else { break }
            let chunk = min(16 * 1024, sizes[transfer] - received[transfer], Int(random.next() % 16384) + 1)
            let needed = received[transfer] + chunk
            if needed > room[transfer] {
                let grown = min(max(needed, room[transfer] * 2), sizes[transfer])
                let asked = grown - room[transfer]
                let before = ["a", "b", "c"].map { ($0, groupRoom($0) + ($0 == groupOf[transfer] ? asked : 0)) }
                let admission = budget.admit(asked, for: transfer, group: groupOf[transfer])
                let losers: [Int]
                switch admission {
                case .stop: losers = [transfer]
                case .take(let stopping): losers = stopping
                }
                if let first = losers.first {
                    let loserRoom = before.first { $0.0 == groupOf[first] }!.1
                    #expect(before.allSatisfy { $0.1 <= loserRoom }, "group \(groupOf[first]) lost while another held more: \(before)")
                }
                for loser in losers where loser != transfer { stop(loser) }
                if case .stop = admission {
                    stop(transfer)
                    continue
                }
                room[transfer] = grown
            }
            received[transfer] = needed
            if needed == sizes[transfer] {
                budget.finish(transfer)
                room[transfer] = 0
                ended.insert(transfer)
            }
            #expect(budget.buffered <= limit)
            #expect(budget.buffered == room.reduce(0, +), "the budget and the transfers disagree")
        }
        #expect(ended.count == sizes.count, "transfers left unfinished after \(steps) steps")
        #expect(budget.buffered == 0)
        #expect(budget.peak > limit / 2, "the run never filled the budget, so it tested little")
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
                    await Self.body(of: HTTPRequest(
                        method: .get, url: "http://\(stub.host)/v2/demo/app/blobs/large", maximumResponseBytes: size,
                        deadline: .now + .seconds(60)), from: driver)
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

    /// Six downloads for one namespace send a piece each and stall; another namespace's
    /// answer needs room. Downloads of the stalled namespace are stopped and fail at once as
    /// stopped for the budget, long before their deadline (their own callback never runs
    /// again), and the other answer arrives whole.
    @Test
    func stalledDownloadsOfTheNamespaceHoldingTheMostFailAtOnce() async throws {
        let piece = 16 * 1024
        // One byte more than a piece: the room of a stalled download is its announced length
        // once the first piece is in, however curl splits that piece.
        let stalled = [UInt8](repeating: 1, count: piece + 1)
        let quick = [UInt8](repeating: 2, count: 4 * piece)
        let stub = try await RegistryStubServer.start(routes: [
            "GET /v2/demo/app/blobs/stalled": [.init(body: stalled, pieceInterval: 60)],
            "GET /v2/demo/app/blobs/quick": [.init(body: quick)],
        ])
        defer { stub.stop() }
        let levels = NIOLockedValueBox<[ResponseBufferLevel]>([])
        var settings = CurlTransferSettings(
            caBundlePath: nil, connectTimeout: .seconds(30), lowSpeedTimeout: .seconds(300), maximumRedirects: 0,
            userAgent: "signet-test")
        // Six stalled downloads hold six pieces of room; the quick answer needs four: two of the
        // stalled ones must go, and their namespace holds more than the quick one's each time.
        settings.responseBufferLimit = 8 * piece
        settings.onResponseBufferChange = { level in levels.withLockedValue { $0.append(level) } }
        let driver = try CurlMultiDriver(settings: settings)
        defer { driver.shutdown() }
        func fetch(_ path: String, group: String, seconds: Int64) async -> Result<[UInt8], TransportFailure> {
            var request = HTTPRequest(
                method: .get, url: "http://\(stub.host)/v2/demo/app/blobs/\(path)", maximumResponseBytes: 4 * piece,
                deadline: .now + .seconds(seconds))
            request.budgetGroup = group
            return await Self.body(of: request, from: driver)
        }
        let finished = NIOLockedValueBox<[Result<[UInt8], TransportFailure>]>([])
        let holders = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let outcome = await fetch("stalled", group: "slow", seconds: 30)
                        finished.withLockedValue { $0.append(outcome) }
                    }
                }
            }
        }
        defer { holders.cancel() }
        // The quick answer starts once the stalled ones hold their first piece (a bounded wait).
        for _ in 0..<600 where (levels.withLockedValue { $0.last?.bufferedBytes ?? 0 }) < 6 * piece {
            try await Task.sleep(for: .milliseconds(50))
        }
        let answer = await fetch("quick", group: "tenant", seconds: 30)
        #expect((try? answer.get()) == quick, "the other namespace's answer did not arrive whole: \(answer)")
        // A stopped download fails in the driver's next turn; the stalled ones would otherwise
        // end only at their 30 s deadline. (A bounded wait, well inside that deadline.)
        for _ in 0..<400 where finished.withLockedValue({ $0.isEmpty }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let early = finished.withLockedValue { $0 }
        #expect(!early.isEmpty, "no stalled download ended before its deadline")
        for outcome in early {
            guard case .failure(.overBudget(let limit)) = outcome else {
                Issue.record("a stalled download ended otherwise: \(outcome)")
                continue
            }
            #expect(limit == 8 * piece)
        }
    }

    /// The body `driver` downloads for `request`, or how the transfer failed.
    static func body(of request: HTTPRequest, from driver: CurlMultiDriver) async -> Result<[UInt8], TransportFailure> {
        do {
            return .success(try await driver.perform(request).body)
        } catch let failure as TransportFailure {
            return .failure(failure)
        } catch {
            return .failure(.invalidRequest("\(error)"))
        }
    }
}
