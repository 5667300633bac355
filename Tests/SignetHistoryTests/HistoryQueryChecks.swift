import Foundation
import SignetHistory
import Testing

/// The query suite every history backend must pass, run by ``SQLiteHistoryStoreTests`` and
/// ``PostgresHistoryStoreTests`` alike: filters, paging with a stable cursor, retention, reopening.
/// `makeStore(name)` opens a fresh, empty store; the same name opens the same store again.
enum HistoryQueryChecks {
    /// 2026-06-01T00:00:00Z: a fixed time, so nothing depends on today's date.
    static let base = Date(timeIntervalSince1970: 1_780_272_000)

    static func image(
        _ reference: String, verdict: String, policies: [String] = ["web"], digest: String? = nil, container: String = "app",
        exemptions: [String] = []
    ) -> HistoryImageRecord {
        HistoryImageRecord(
            image: reference, reference: digest.map { "\(HistoryImageRecord.repository(of: reference))@\($0)" } ?? reference,
            digest: digest, container: container, policies: policies,
            authorities: policies.map { "\($0)/key: \(verdict == "deny" ? "failed" : "passed")" }, verdict: verdict,
            reason: verdict == "deny" ? "no signature by the key of \(policies.first ?? "?")" : "signed",
            trustChain: "\(policies.first ?? "?")/key: passed via key sha256:0123", exemptions: exemptions)
    }

    static let digestA = "sha256:" + String(repeating: "a", count: 64)
    static let digestB = "sha256:" + String(repeating: "b", count: 64)

    /// Seven decisions, a minute apart, oldest first.
    static func samples() -> [HistoryEntry] {
        func entry(
            _ minute: Int, _ namespace: String?, allowed: Bool, source: HistoryEntry.Source = .admission, dryRun: Bool = false,
            _ images: [HistoryImageRecord]
        ) -> HistoryEntry {
            HistoryEntry(
                source: source, time: base.addingTimeInterval(Double(minute) * 60), namespace: namespace,
                objectKind: source == .admission ? "Pod" : nil, name: source == .admission ? "pod-\(minute)" : nil,
                user: "system:serviceaccount:kube-system:replicaset-controller", operation: source == .admission ? "CREATE" : nil,
                dryRun: dryRun, uid: "uid-\(minute)", peer: "10.0.0.1:4000\(minute)", clientCertificate: "CN=kube-apiserver",
                latencyMs: Double(minute) + 0.5, allowed: allowed, reason: allowed ? nil : "denied", policyRevision: "rev-\(minute)",
                cacheHits: minute % 3, cacheMisses: minute % 2, images: images)
        }
        return [
            entry(0, "shop", allowed: true, [image("ghcr.io/acme/web:1.0", verdict: "allow", digest: digestA)]),
            entry(1, "shop", allowed: false, [
                image("ghcr.io/acme/web:2.0", verdict: "allow", digest: digestA),
                image("ghcr.io/acme/worker:2.0", verdict: "deny", policies: ["web-strict"], digest: digestB, container: "worker"),
            ]),
            entry(2, "billing", allowed: true, dryRun: true, [image("ghcr.io/acme/web:1.0", verdict: "warn", digest: digestA)]),
            entry(3, "billing", allowed: true, [
                image("docker.io/library/nginx:1.27", verdict: "allow", policies: [], exemptions: ["PolicyException billing/legacy"]),
            ]),
            entry(4, nil, allowed: false, source: .verification, [image("ghcr.io/acme/worker:2.0", verdict: "deny", policies: ["signet-verify"], digest: digestB)]),
            entry(5, "shop", allowed: true, source: .console, [image("ghcr.io/acme/web_x:1.0", verdict: "audit", policies: ["web_x"])]),
            entry(6, "kube-system", allowed: true, []),
        ]
    }

    /// Minutes (of ``samples()``) of the entries of `page`, in order.
    static func minutes(_ entries: [HistoryEntry]) -> [Int] {
        entries.map { Int(($0.time.timeIntervalSince(base) / 60).rounded()) }
    }

    static func all(_ store: any HistoryStore, _ query: HistoryQuery) async throws -> [Int] {
        var query = query
        query.limit = HistoryQuery.maximumLimit
        return minutes(try await store.query(query).entries)
    }

    /// Image filters that no index serves read a bounded window of entries per page: here 4
    /// (`query` runs the store's query with that window). Twelve decisions a minute apart; the
    /// policy `rare` matched at minutes 9 and 1 only, `common` every one.
    static func checkScanWindow(_ store: any HistoryStore, query: (HistoryQuery) async throws -> HistoryPage) async throws {
        let entries = (0..<12).map { (minute: Int) -> HistoryEntry in
            let rare = minute == 9 || minute == 1
            let record = image("ghcr.io/acme/web:\(minute)", verdict: "allow", policies: [rare ? "rare" : "common"], digest: minute == 1 ? digestB : digestA)
            return HistoryEntry(
                source: .admission, time: base.addingTimeInterval(Double(minute) * 60), namespace: minute % 2 == 0 ? "even" : "odd",
                name: "pod-\(minute)", latencyMs: 1, allowed: true, images: [record])
        }
        try await store.append(entries)
        func stamp(_ minute: Int) -> Date { base.addingTimeInterval(Double(minute) * 60) }

        // The first window holds minutes 11 to 8: one match, and the page ends where the window did.
        let first = try await query(HistoryQuery(policy: "rare", limit: 5))
        #expect(minutes(first.entries) == [9])
        #expect(first.searchedThrough == stamp(8))
        // The next searches the four before: nothing, and on again.
        let second = try await query(HistoryQuery(policy: "rare", limit: 5, cursor: first.nextCursor))
        #expect(minutes(second.entries) == [] && second.searchedThrough == stamp(4))
        let third = try await query(HistoryQuery(policy: "rare", limit: 5, cursor: second.nextCursor))
        #expect(minutes(third.entries) == [1] && third.searchedThrough == stamp(0))
        let last = try await query(HistoryQuery(policy: "rare", limit: 5, cursor: third.nextCursor))
        #expect(last.entries.isEmpty && last.nextCursor == nil && last.searchedThrough == nil)

        // A page filled inside its window pages as usual.
        let full = try await query(HistoryQuery(policy: "common", limit: 2))
        #expect(minutes(full.entries) == [11, 10] && full.searchedThrough == nil)
        #expect(minutes(try await query(HistoryQuery(policy: "common", limit: 2, cursor: full.nextCursor)).entries) == [8, 7])
        // The window counts entries after the entry filters: six odd minutes, the first four searched.
        let odd = try await query(HistoryQuery(namespace: "odd", policy: "rare", limit: 5))
        #expect(minutes(odd.entries) == [9] && odd.searchedThrough == stamp(5))
        #expect(minutes(try await query(HistoryQuery(namespace: "odd", policy: "rare", limit: 5, cursor: odd.nextCursor)).entries) == [1])
        // A digest is found through its index, however far back, with the other image filters.
        let digest = try await query(HistoryQuery(digest: digestB, policy: "rare", limit: 5))
        #expect(minutes(digest.entries) == [1] && digest.nextCursor == nil && digest.searchedThrough == nil)
        #expect(minutes(try await query(HistoryQuery(digest: digestB, policy: "common", limit: 5)).entries) == [])
        // Without image filters nothing is windowed.
        #expect(minutes(try await query(HistoryQuery(namespace: "even", limit: 10)).entries) == [10, 8, 6, 4, 2, 0])
    }

    /// Statements (either dialect) that fill an empty history with `count` admissions, each of
    /// one allowed image with ``digestA``: the pause image or a sidecar, which every Pod runs.
    static func fillWithOneDigest(_ count: Int) -> [String] {
        [
            """
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < \(count)) \
            INSERT INTO signet_history_entries (source, time_us, dry_run, latency_ms, allowed) \
            SELECT 'admission', x, 0, 1.0, 1 FROM n
            """,
            """
            INSERT INTO signet_history_images (entry_id, position, image, repository, digest, policies, authorities, verdict, reason, trust_chain, exemptions) \
            SELECT id, 0, 'registry.k8s.io/pause', 'registry.k8s.io/pause', '\(digestA)', '', '', 'allow', '', '', '' FROM signet_history_entries
            """,
        ]
    }

    /// A read that runs past the store's time limit is stopped with an error that says so:
    /// `limited` stops reads after a millisecond, `standard` after ``HistoryReadTimeLimit/standard``,
    /// both over a history ``fillWithOneDigest(_:)`` filled with 100,000 entries. A page of that
    /// digest's denials reads every one of its image rows to find none, and the overview of a
    /// range reads every entry in it.
    static func checkReadTimeLimit(limited: any HistoryStore, standard: any HistoryStore) async throws {
        let denials = HistoryQuery(digest: digestA, verdict: "deny", limit: 50)
        let stopped = await #expect(throws: HistoryStoreError.self) { try await limited.query(denials) }
        #expect(stopped?.isReadTimeout == true)
        #expect(stopped?.description.contains("took longer than 1 ms and was stopped") == true, "\(String(describing: stopped))")
        let overview = HistoryOverviewQuery(since: Date(timeIntervalSince1970: 0), until: Date(timeIntervalSince1970: 1), buckets: 10)
        let stoppedOverview = await #expect(throws: HistoryStoreError.self) { try await limited.overview(overview) }
        #expect(stoppedOverview?.isReadTimeout == true)
        // Under the standard limit the same reads finish: there are no such denials.
        #expect(try await standard.query(denials).entries.isEmpty)
        #expect(try await standard.overview(overview).buckets.reduce(0) { $0 + $1.decisions } == 100_000)
    }

    static func run(_ makeStore: (String) async throws -> any HistoryStore) async throws {
        let store = try await makeStore("queries")
        let samples = samples()
        try await store.append(Array(samples.prefix(4)))
        try await store.append(Array(samples.dropFirst(4)))

        // Everything, newest first, exactly as written.
        let everything = try await store.query(HistoryQuery(limit: 100))
        #expect(minutes(everything.entries) == [6, 5, 4, 3, 2, 1, 0])
        #expect(everything.nextCursor == nil)
        for (read, written) in zip(everything.entries.reversed(), samples) {
            var withoutID = read
            #expect(read.id != nil)
            withoutID.id = nil
            #expect(withoutID == written)
        }

        // Each filter.
        #expect(try await all(store, HistoryQuery(namespace: "shop")) == [5, 1, 0])
        #expect(try await all(store, HistoryQuery(namespace: "nowhere")) == [])
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/web")) == [2, 1, 0], "the repository matches every tag")
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/web:1.0")) == [2, 0], "the image as written")
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/worker@\(digestB)")) == [4, 1], "the pinned reference")
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme")) == [], "a prefix is not a repository")
        #expect(try await all(store, HistoryQuery(digest: digestA)) == [2, 1, 0])
        #expect(try await all(store, HistoryQuery(policy: "web")) == [2, 1, 0], "web-strict and web_x are other policies")
        #expect(try await all(store, HistoryQuery(policy: "web-strict")) == [1])
        #expect(try await all(store, HistoryQuery(policy: "web_x")) == [5])
        #expect(try await all(store, HistoryQuery(policy: "we%")) == [])
        #expect(try await all(store, HistoryQuery(verdict: "deny")) == [4, 1])
        #expect(try await all(store, HistoryQuery(verdict: "audit")) == [5])
        #expect(try await all(store, HistoryQuery(allowed: false)) == [4, 1])
        #expect(try await all(store, HistoryQuery(source: .verification)) == [4])
        #expect(try await all(store, HistoryQuery(source: .console)) == [5])
        #expect(try await all(store, HistoryQuery(since: base.addingTimeInterval(120), until: base.addingTimeInterval(300))) == [4, 3, 2])
        // Image filters hold for one and the same image: web:2.0 was allowed, worker denied.
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/web:2.0", verdict: "deny")) == [])
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/worker:2.0", verdict: "deny")) == [4, 1])
        #expect(try await all(store, HistoryQuery(digest: digestB, namespace: "shop", policy: "web-strict", verdict: "deny")) == [1])

        try await checkLookupAndOverview(store, entries: everything.entries)

        // Pages chain through the cursor; an entry written between pages does not shift them.
        let first = try await store.query(HistoryQuery(limit: 3))
        #expect(minutes(first.entries) == [6, 5, 4])
        let cursor = try #require(first.nextCursor)
        #expect(HistoryCursor(cursor.description) == cursor)
        try await store.append([HistoryEntry(source: .admission, time: base.addingTimeInterval(3600), latencyMs: 1, allowed: true, images: [])])
        let second = try await store.query(HistoryQuery(limit: 3, cursor: cursor))
        #expect(minutes(second.entries) == [3, 2, 1])
        let third = try await store.query(HistoryQuery(limit: 3, cursor: second.nextCursor))
        #expect(minutes(third.entries) == [0])
        #expect(third.nextCursor == nil)
        // The same time twice: the id decides, and no entry is skipped or repeated.
        let twin = base.addingTimeInterval(7200)
        try await store.append((0..<3).map { HistoryEntry(source: .admission, time: twin, name: "twin-\($0)", latencyMs: 1, allowed: true, images: []) })
        var names: [String] = []
        var next: HistoryCursor?
        repeat {
            let page = try await store.query(HistoryQuery(since: twin, limit: 1, cursor: next))
            names += page.entries.compactMap(\.name)
            next = page.nextCursor
        } while next != nil
        #expect(names == ["twin-2", "twin-1", "twin-0"])

        await #expect(throws: HistoryStoreError.self) { try await store.query(HistoryQuery(limit: 0)) }
        await #expect(throws: HistoryStoreError.self) { try await store.query(HistoryQuery(limit: HistoryQuery.maximumLimit + 1)) }
        #expect(HistoryCursor("12.x") == nil)
        #expect(HistoryCursor("12") == nil)
        await store.close()

        // Opened again: the schema is not created twice and the entries are there.
        let reopened = try await makeStore("queries")
        #expect(try await reopened.query(HistoryQuery(limit: 100)).entries.count == 11)
        await reopened.close()

        try await checkRetention(try await makeStore("retention"))
        try await checkBounds(try await makeStore("bounds"))
        try await checkUnknownSenders(try await makeStore("senders"))
    }

    /// Reviews not known to come from the API server (``HistoryEntry/fromAPIServer`` false):
    /// kept as such, found by the `sender` filter, left out of the overview by default, and,
    /// whatever namespaces they name, cut as one share of their own: twenty of them naming
    /// `shop` and nine made-up namespaces take none of the real entries with them.
    static func checkUnknownSenders(_ store: any HistoryStore) async throws {
        let real = samples()
        let forged = (0..<20).map { index in
            HistoryEntry(
                source: .admission, time: base.addingTimeInterval(3600 + Double(index)), namespace: index % 10 == 0 ? "shop" : "ns-\(index % 10)",
                objectKind: "Pod", name: "forged-\(index)", user: "system:serviceaccount:shop:deployer", operation: "CREATE",
                peer: "10.9.9.9:5000", fromAPIServer: false, latencyMs: 1, allowed: false, reason: "denied",
                images: [image("ghcr.io/acme/web:9.\(index)", verdict: "deny", digest: digestA)])
        }
        try await store.append(real + forged)
        let read = try await store.query(HistoryQuery(limit: 100)).entries
        #expect(read.filter { !$0.fromAPIServer }.compactMap(\.name) == (0..<20).reversed().map { "forged-\($0)" })
        #expect(try await store.query(HistoryQuery(fromAPIServer: false, limit: 100)).entries.count == 20)
        #expect(minutes(try await store.query(HistoryQuery(namespace: "shop", fromAPIServer: true, limit: 100)).entries) == [5, 1, 0])

        // The overview counts the API server's reviews only, unless asked for both.
        var range = HistoryOverviewQuery(since: base, until: base.addingTimeInterval(7200), buckets: 2)
        #expect(try await store.overview(range).totals.denies == 1)
        range.fromAPIServer = nil
        #expect(try await store.overview(range).totals.denies == 21)

        // 27 entries cut to 10: the unknown senders' share (20) alone comes down to 3.
        let now = base.addingTimeInterval(7200)
        #expect(try await store.applyRetention(HistoryRetention(maximumAge: nil, maximumEntries: 10), now: now) == 17)
        let kept = try await store.query(HistoryQuery(limit: 100)).entries
        #expect(minutes(kept.filter(\.fromAPIServer)) == [6, 5, 4, 3, 2, 1, 0])
        #expect(kept.filter { !$0.fromAPIServer }.compactMap(\.name) == ["forged-19", "forged-18", "forged-17"])
        await store.close()
    }

    /// A decision whose object carries a megabyte-long image, a name that is one character of
    /// many scalars, endless policies, and ten thousand containers is kept within
    /// ``HistoryEntryBounds``: each text cut with a note, images up to the entry's budget, and
    /// the reason saying how many were not kept. A small decision beside it is kept whole.
    static func checkBounds(_ store: any HistoryStore) async throws {
        let huge = "ghcr.io/acme/" + String(repeating: "a", count: 1 << 20)
        let oneCharacter = "e" + String(repeating: "\u{301}", count: 100_000)
        var first = image(huge, verdict: "deny", policies: (0..<1000).map { "policy-\($0)" })
        first.reason = "not a valid reference: " + huge
        let many = (0..<10_000).map { image("ghcr.io/acme/app-\($0):1.0", verdict: "deny", container: "c\($0)") }
        let oversized = HistoryEntry(
            source: .admission, time: base, namespace: "team-a", objectKind: "Pod", name: oneCharacter, user: "mallory",
            operation: "CREATE", dryRun: true, latencyMs: 1, allowed: false, reason: "denied: " + huge, images: [first] + many)
        let small = samples()[0]
        try await store.append([oversized, small])

        let read = try await store.query(HistoryQuery(limit: 2)).entries
        #expect(read.count == 2)
        let kept = try #require(read.first { $0.user == "mallory" })
        #expect(kept.name?.unicodeScalars.count ?? 0 < HistoryEntryBounds.maximumNameScalars + 64)
        #expect(kept.name?.hasSuffix("(\(100_001 - HistoryEntryBounds.maximumNameScalars) more characters not kept)") == true)
        let imageBytes = kept.images.reduce(0) { total, image in
            total + ([image.image, image.reference ?? "", image.reason, image.trustChain] + image.policies + image.authorities)
                .reduce(0) { $0 + $1.utf8.count }
        }
        #expect(kept.images.count > 1 && kept.images.count < many.count, "images up to the budget, not all of them")
        #expect(imageBytes <= HistoryEntryBounds.maximumImageBytes)
        let firstKept = try #require(kept.images.first)
        #expect(firstKept.image.hasPrefix("ghcr.io/acme/aaaa") && firstKept.image.utf8.count < 2 * HistoryEntryBounds.maximumNameScalars)
        #expect(firstKept.reason.utf8.count < 2 * HistoryEntryBounds.maximumTextScalars)
        #expect(firstKept.policies.count == HistoryEntryBounds.maximumListItems + 1)
        #expect(firstKept.policies.last == "… (\(1000 - HistoryEntryBounds.maximumListItems) more not kept)")
        let reason = try #require(kept.reason)
        #expect(reason.utf8.count < 2 * HistoryEntryBounds.maximumTextScalars)
        let reasonEnd = String(reason.suffix(120))
        #expect(reasonEnd.hasSuffix("\(many.count + 1 - kept.images.count) of the decision's \(many.count + 1) images not kept in the history (too large)"))
        // Filters still find what was kept: an image of a container within the budget.
        #expect(try await store.query(HistoryQuery(image: "ghcr.io/acme/app-0:1.0", limit: 10)).entries.map(\.user) == ["mallory"])

        var whole = try #require(read.first { $0.user != "mallory" })
        whole.id = nil
        #expect(whole == small, "a typical decision is kept exactly")

        // A NUL in any text (a registry's error body quoted in a reason) is kept as U+FFFD:
        // PostgreSQL refused the value and the whole batch with it, others' decisions too.
        var poisoned = samples()[1]
        poisoned.user = "nul"
        poisoned.namespace = "team\u{0}x"
        poisoned.reason = "could not verify: x\u{0}y"
        poisoned.images[0].reason = "DENIED: x\u{0}"
        let beside = samples()[2]
        try await store.append([poisoned, beside])
        let afterNUL = try await store.query(HistoryQuery(limit: 10)).entries
        let nul = try #require(afterNUL.first { $0.user == "nul" }, "the entry with a NUL was not stored")
        #expect(nul.reason == "could not verify: x\u{FFFD}y")
        #expect(nul.images.first?.reason == "DENIED: x\u{FFFD}")
        #expect(afterNUL.count == 4, "the entry beside it was not stored")
        // A search's NUL is bound as the stored text has it: found, never a failed query.
        let byNamespace = try await store.query(HistoryQuery(namespace: "team\u{0}x", limit: 10)).entries
        #expect(byNamespace.map(\.user) == ["nul"])
        for query in [HistoryQuery(image: "ghcr.io/\u{0}", limit: 5), HistoryQuery(policy: "p\u{0}", limit: 5),
                      HistoryQuery(digest: "sha256:\u{0}", limit: 5), HistoryQuery(verdict: "\u{0}", limit: 5)] {
            #expect(try await store.query(query).entries.isEmpty)
        }

        // Times past what 64-bit microseconds since 1970 hold (the year 294,247) are refused as
        // bad queries, never converted (a trap would end the process, the webhook with it);
        // the year 10000 is the first refused.
        let outside = [Date(timeIntervalSince1970: 1e13), Date(timeIntervalSince1970: -1e13), Date(timeIntervalSince1970: 253_402_300_800)]
        for time in outside {
            for query in [HistoryQuery(since: time, limit: 5), HistoryQuery(until: time, limit: 5), HistoryQuery(image: "ghcr.io/acme/web", since: time, limit: 5)] {
                await #expect(throws: HistoryStoreError.self, "\(time)") { try await store.query(query) }
            }
            await #expect(throws: HistoryStoreError.self, "\(time)") {
                try await store.overview(HistoryOverviewQuery(since: time < base ? time : base, until: time < base ? base : time, buckets: 4))
            }
        }
        #expect(try await store.query(HistoryQuery(since: Date(timeIntervalSince1970: 253_402_300_799), limit: 5)).entries.isEmpty)
        await store.close()
    }

    /// One entry by id; the overview's buckets and most refused images (over the seven samples only).
    static func checkLookupAndOverview(_ store: any HistoryStore, entries: [HistoryEntry]) async throws {
        let second = try #require(entries.first { minutes([$0]) == [1] })
        let secondID = try #require(second.id)
        let found = try #require(try await store.entry(id: secondID))
        #expect(found == second, "the entry with both its images")
        #expect(found.images.count == 2)
        #expect(try await store.entry(id: 999_999) == nil)

        // Seven one-minute buckets of admissions: minutes 0, 1, 2, 3 and 6 (4 is a verification, 5 a console one).
        let range = HistoryOverviewQuery(since: base, until: base.addingTimeInterval(420), buckets: 7)
        let overview = try await store.overview(range)
        #expect(overview.buckets.map(\.start) == (0..<7).map { base.addingTimeInterval(Double($0) * 60) })
        #expect(overview.bucketSeconds == 60)
        #expect(overview.buckets.map(\.decisions) == [1, 1, 1, 1, 0, 0, 1])
        #expect(overview.buckets.map(\.denies) == [0, 1, 0, 0, 0, 0, 0])
        #expect(overview.buckets.map(\.cacheHits) == [0, 1, 2, 0, 0, 0, 0])
        #expect(overview.buckets.map(\.cacheMisses) == [0, 1, 0, 1, 0, 0, 0])
        #expect(overview.buckets.map(\.cacheHitRate) == [nil, 0.5, 1, 0, nil, nil, nil])
        #expect(overview.buckets.map(\.meanLatencyMs) == [0.5, 1.5, 2.5, 3.5, nil, nil, 6.5])
        #expect(overview.buckets.map(\.maxLatencyMs) == [0.5, 1.5, 2.5, 3.5, nil, nil, 6.5])
        #expect(overview.totals.decisions == 5)
        #expect(overview.totals.denies == 1)
        #expect(overview.topRefused == [HistoryOverview.RefusedImage(image: "ghcr.io/acme/worker@\(digestB)", denies: 1, lastDenied: base.addingTimeInterval(60))])

        // Every source: the verification's denial of the same image counts too, and is the last.
        var everySource = range
        everySource.source = nil
        let all = try await store.overview(everySource)
        #expect(all.buckets.map(\.decisions) == [1, 1, 1, 1, 1, 1, 1])
        #expect(all.topRefused == [HistoryOverview.RefusedImage(image: "ghcr.io/acme/worker@\(digestB)", denies: 2, lastDenied: base.addingTimeInterval(240))])
        var console = range
        console.source = .console
        #expect(try await store.overview(console).buckets.map(\.decisions) == [0, 0, 0, 0, 0, 1, 0])

        // Two buckets of 3.5 minutes; nothing outside the range is counted.
        let halves = try await store.overview(HistoryOverviewQuery(since: base, until: base.addingTimeInterval(420), buckets: 2))
        #expect(halves.buckets.map(\.decisions) == [4, 1])
        #expect(halves.buckets.map(\.denies) == [1, 0])
        let later = try await store.overview(HistoryOverviewQuery(since: base.addingTimeInterval(-3600), until: base, buckets: 3))
        #expect(later.buckets.map(\.decisions) == [0, 0, 0])
        #expect(later.topRefused.isEmpty)

        await #expect(throws: HistoryStoreError.self) { try await store.overview(HistoryOverviewQuery(since: base, until: base, buckets: 1)) }
        await #expect(throws: HistoryStoreError.self) {
            try await store.overview(HistoryOverviewQuery(since: base, until: base.addingTimeInterval(60), buckets: 0))
        }
    }

    /// A database at schema version 1 (`downgrade` takes the store `name` back to it) is
    /// migrated when opened: its entries stay, with no cache figures, and new ones keep theirs.
    static func checkMigrationFromVersion1(
        _ makeStore: (String) async throws -> any HistoryStore, downgrade: (String) async throws -> Void
    ) async throws {
        let store = try await makeStore("migration")
        try await store.append(Array(samples().prefix(2)))
        await store.close()
        try await downgrade("migration")
        let migrated = try await makeStore("migration")
        let old = try await migrated.query(HistoryQuery(limit: 10)).entries
        #expect(minutes(old) == [1, 0])
        #expect(old.allSatisfy { $0.cacheHits == 0 && $0.cacheMisses == 0 })
        #expect(old.allSatisfy { $0.fromAPIServer }, "an older signet took every review as the API server's")
        #expect(old.first?.images.count == 2)
        var new = samples()[2]
        new.cacheHits = 4
        new.cacheMisses = 1
        new.fromAPIServer = false
        try await migrated.append([new])
        let read = try await migrated.query(HistoryQuery(limit: 1)).entries
        #expect(read.first?.cacheHits == 4)
        #expect(read.first?.cacheMisses == 1)
        #expect(read.first?.fromAPIServer == false)
        await migrated.close()
    }

    /// The statements that take a version 2 database back to version 1 (its indexes,
    /// `stored_bytes` and `from_api_server` too, so opening it adds them again). An index may not exist yet: a store
    /// builds them in the background after it opens, and one closed meanwhile (as a loaded
    /// machine can make it) stops before the last.
    static let downgradeToVersion1 = [
        "DROP INDEX IF EXISTS signet_history_entries_allowed", "DROP INDEX IF EXISTS signet_history_entries_source",
        "DROP INDEX IF EXISTS signet_history_entries_namespace_order", "DROP INDEX IF EXISTS signet_history_entries_sender",
        "DROP INDEX IF EXISTS signet_history_entries_namespace_sender",
        "ALTER TABLE signet_history_entries DROP COLUMN stored_bytes", "ALTER TABLE signet_history_entries DROP COLUMN from_api_server",
        "ALTER TABLE signet_history_entries DROP COLUMN cache_hits", "ALTER TABLE signet_history_entries DROP COLUMN cache_misses",
        "UPDATE signet_history_schema SET version = 1",
    ]

    /// Retention by age and by count, at an injected time.
    static func checkRetention(_ store: any HistoryStore) async throws {
        try await store.append(samples())
        // At minute 10, keep 5 minutes: minutes 5 and 6 stay (minute 5 is exactly 5 minutes old).
        let now = base.addingTimeInterval(600)
        let byAge = try await store.applyRetention(HistoryRetention(maximumAge: .seconds(300), maximumEntries: nil), now: now)
        #expect(byAge == 5)
        #expect(try await all(store, HistoryQuery()) == [6, 5])
        #expect(try await all(store, HistoryQuery(image: "ghcr.io/acme/web")) == [], "images go with their entries")
        // Nothing more is old at the same time.
        #expect(try await store.applyRetention(HistoryRetention(maximumAge: .seconds(300), maximumEntries: nil), now: now) == 0)

        try await store.append(samples())
        let before = try await store.query(HistoryQuery(limit: 10)).entries
        #expect(minutes(before) == [6, 6, 5, 5, 4, 3, 2, 1, 0])
        // By count, the namespaces holding the most give up their oldest first: shop holds 4,
        // billing and kube-system 2 each, no namespace 1; keeping 3 leaves one each to the
        // first three (largest, then by name), none to the entries of no namespace.
        let byCount = try await store.applyRetention(HistoryRetention(maximumAge: nil, maximumEntries: 3), now: now)
        #expect(byCount == 6)
        let kept = try await store.query(HistoryQuery(limit: 10)).entries
        #expect(minutes(kept) == [6, 5, 3])
        #expect(kept.map(\.namespace) == ["kube-system", "shop", "billing"])
        #expect(kept[0].id == before[0].id, "of two entries at the same time the newer id stays")
        #expect(kept[1].id == before[2].id)
        #expect(try await store.applyRetention(HistoryRetention(maximumAge: nil, maximumEntries: 3), now: now) == 0)
        #expect(try await store.applyRetention(HistoryRetention(maximumAge: nil, maximumEntries: 0), now: now) == 3)
        #expect(try await all(store, HistoryQuery()) == [])

        // One namespace floods the history (dry runs of anyone who may create its Pods): it loses
        // its own oldest entries, and the quieter namespaces keep all of theirs, older as they are.
        let quiet = samples().prefix(4)
        let flood = (0..<20).map { index in
            HistoryEntry(
                source: .admission, time: base.addingTimeInterval(3600 + Double(index)), namespace: "mallory", objectKind: "Pod",
                name: "dry-\(index)", user: "mallory", operation: "CREATE", dryRun: true, latencyMs: 1, allowed: false, reason: "denied",
                images: [image("ghcr.io/mallory/x:\(index)", verdict: "deny")])
        }
        try await store.append(Array(quiet) + flood)
        #expect(try await store.applyRetention(HistoryRetention(maximumAge: nil, maximumEntries: 10), now: now) == 14)
        let shared = try await store.query(HistoryQuery(limit: 100)).entries
        #expect(shared.filter { $0.namespace == "mallory" }.map(\.name) == (14..<20).reversed().map { "dry-\($0)" })
        #expect(minutes(shared.filter { $0.namespace != "mallory" }) == [3, 2, 1, 0])
        await store.close()
    }
}
