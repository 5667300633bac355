import Foundation
import SignetAdmission
import SignetHTTP
import SignetHistory
import SignetPolicy
import SignetTestSupport
import Testing

@testable import SignetConsole

/// The live views of the console stay bounded: a Pod whose images are a megabyte long and
/// number ten thousand (Kubernetes limits neither, only the request size) reaches an open
/// History page as a decision of at most ``DecisionFeed/maximumImages`` clipped images, its
/// reason saying how many were left out; and a live stream ends after its lifetime, so the
/// browser's reconnection has its token reviewed again.
@Suite struct LiveFeedTests {
    @Test func aDecisionOfHugeImagesReachesSubscribersClipped() async throws {
        let feed = DecisionFeed(clock: { Date(timeIntervalSince1970: 1_780_272_000) })
        let updates = try #require(feed.subscribe(for: "reader"))
        let huge = "ghcr.io/acme/" + String(repeating: "a", count: 1 << 20)
        let verdicts = [huge] + (0..<10_000).map { "ghcr.io/acme/app-\($0):1.0" }
        let record = AdmissionAuditRecord(
            event: "admission", time: "2026-06-01T00:00:00Z", uid: "u-1", namespace: "team-a", kind: "Pod", name: "big",
            user: "mallory", operation: "CREATE", dryRun: true, allowed: false, reason: "denied: " + huge, policyRevision: "r",
            latencyMs: 1,
            verdicts: verdicts.enumerated().map { index, image in
                ImageVerdict(
                    image: image, reference: nil, container: "c\(index)", containerType: .container, policies: [], outcome: .deny,
                    reason: "not allowed")
            },
            exemptions: [])
        feed.record(record)

        var iterator = updates.makeAsyncIterator()
        let published = try #require(await iterator.next())
        let decision = published.decision
        // Encoded once, as the stream sends it.
        let event = String(decoding: published.event, as: UTF8.self)
        #expect(event.hasPrefix("event: decision\ndata: {") && event.hasSuffix("}\n\n") && event.contains(#""uid":"u-1""#), "\(event.prefix(200))")
        #expect(decision.images.count == DecisionFeed.maximumImages)
        #expect(decision.verdicts.count == DecisionFeed.maximumImages)
        #expect(decision.images.first?.hasPrefix("ghcr.io/acme/aaaa") == true)
        #expect(decision.images.allSatisfy { $0.utf8.count < 2 * HistoryEntryBounds.maximumNameScalars })
        #expect(decision.images.last == "ghcr.io/acme/app-\(DecisionFeed.maximumImages - 2):1.0")
        let reason = try #require(decision.reason)
        #expect(reason.utf8.count < 2 * HistoryEntryBounds.maximumTextScalars)
        let reasonEnd = String(reason.suffix(120))
        #expect(reasonEnd.hasSuffix("; \(verdicts.count - DecisionFeed.maximumImages) more images not shown"))
        // A small decision is passed on as it is.
        feed.record(AdmissionAuditRecord(
            event: "admission", time: "2026-06-01T00:00:01Z", uid: "u-2", namespace: "team-a", kind: "Pod", name: "small",
            user: "alice", operation: "CREATE", dryRun: false, allowed: true, reason: nil, policyRevision: "r", latencyMs: 1,
            verdicts: [ImageVerdict(
                image: "nginx", reference: "docker.io/library/nginx:1.27", container: "web", containerType: .container,
                policies: ["p"], outcome: .allow, reason: "signed")],
            exemptions: []))
        let small = try #require(await iterator.next()).decision
        #expect(small.images == ["docker.io/library/nginx:1.27"])
        #expect(small.reason == nil)
        #expect(small.name == "small")
    }

    /// One reader holds at most eight live streams, and the feed 64: the next is refused (429
    /// from the console) until one ends; another reader is not held back by the first.
    @Test func liveStreamsAreCappedPerReaderAndInAll() async throws {
        let feed = DecisionFeed()
        var alice = (0..<DecisionFeed.maximumSubscriptionsPerReader).compactMap { _ in feed.subscribe(for: "alice") }
        #expect(alice.count == DecisionFeed.maximumSubscriptionsPerReader)
        #expect(feed.subscribe(for: "alice") == nil)
        let bob = feed.subscribe(for: "bob")
        #expect(bob != nil)
        // A stream that ends gives its place back.
        alice.removeLast()
        let end = ContinuousClock.now + TestBudget.seconds(60)
        while feed.subscriberCount > DecisionFeed.maximumSubscriptionsPerReader, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        #expect(feed.subscribe(for: "alice") != nil)
        var others: [AsyncStream<DecisionFeed.Published>] = []
        for index in 0..<DecisionFeed.maximumSubscriptions {
            if let stream = feed.subscribe(for: "reader-\(index)") { others.append(stream) }
        }
        #expect(feed.subscriberCount == DecisionFeed.maximumSubscriptions)
        #expect(feed.subscribe(for: "carol") == nil)
        withExtendedLifetime((alice, others, bob)) {}

        var handler = ConsoleHistoryTests.handler(nil)
        handler.liveStreamLifetime = .seconds(60)
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer reader")
        var streams: [AsyncStream<[UInt8]>] = []
        for _ in 0..<DecisionFeed.maximumSubscriptionsPerReader {
            let response = await handler.handle(
                HTTPRequest(method: "GET", target: "/history/events", headers: headers), context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
            #expect(response.status == 200)
            if let stream = response.stream { streams.append(stream) }
        }
        let refused = await handler.handle(
            HTTPRequest(method: "GET", target: "/history/events", headers: headers), context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
        #expect(refused.status == 429)
        #expect(refused.headers.values(for: "Retry-After") == ["30"])
        withExtendedLifetime(streams) {}
    }

    @Test func aLiveStreamEndsAfterItsLifetimeAndLeavesTheFeed() async throws {
        var handler = ConsoleHistoryTests.handler(nil)
        handler.liveStreamLifetime = .milliseconds(200)
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer reader")
        let response = await handler.handle(
            HTTPRequest(method: "GET", target: "/history/events", headers: headers), context: HTTPRequestContext(remoteAddress: "127.0.0.1:1"))
        #expect(response.status == 200)
        let stream = try #require(response.stream)
        #expect(handler.feed.subscriberCount == 1)
        // The feed never ends by itself: only the lifetime ends this stream (the sleep only catches a hang).
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in stream {}
                return true
            }
            group.addTask {
                try? await Task.sleep(for: TestBudget.seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(ended, "the live stream outlived its lifetime")
        let end = ContinuousClock.now + TestBudget.seconds(60)
        while handler.feed.subscriberCount > 0, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        #expect(handler.feed.subscriberCount == 0)
    }
}
