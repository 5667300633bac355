import Foundation

/// What an overview of the history covers: a time range cut into equal buckets, the source of
/// the decisions counted (admissions by default), and how many of the most refused images to list.
public struct HistoryOverviewQuery: Sendable, Hashable {
    /// The most buckets one overview may have.
    public static let maximumBuckets = 500

    public var since: Date
    public var until: Date
    /// How many equal buckets cut `since..<until`, 1 to ``maximumBuckets``.
    public var buckets: Int
    /// The decisions counted; nil counts every source.
    public var source: HistoryEntry.Source?
    /// How many of the most refused images to list, 0 to 100.
    public var topRefused: Int
    /// Whether the decisions counted came from the API server (``HistoryEntry/fromAPIServer``);
    /// nil counts both. By default only the API server's: reviews anyone could post to the
    /// webhook port say nothing of what the cluster admitted, and would fill the charts and
    /// the most refused images with whatever they named.
    public var fromAPIServer: Bool?

    public init(
        since: Date, until: Date, buckets: Int = 24, source: HistoryEntry.Source? = .admission, topRefused: Int = 10,
        fromAPIServer: Bool? = true
    ) {
        self.since = since
        self.until = until
        self.buckets = buckets
        self.source = source
        self.topRefused = topRefused
        self.fromAPIServer = fromAPIServer
    }

    /// The width of one bucket in whole microseconds, rounded up so the buckets cover the range.
    var bucketMicroseconds: Int64 {
        let range = HistoryEntry.microseconds(until) - HistoryEntry.microseconds(since)
        let count = Int64(max(buckets, 1))
        return max(1, (range + count - 1) / count)
    }

    func validated() throws -> Self {
        guard until > since else { throw HistoryStoreError.invalidQuery("an overview's end must be after its start") }
        for (name, time) in [("an overview's start", since), ("an overview's end", until)] {
            if let problem = HistoryQuery.problem(with: time, name: name) { throw HistoryStoreError.invalidQuery(problem) }
        }
        guard (1...Self.maximumBuckets).contains(buckets) else {
            throw HistoryStoreError.invalidQuery("an overview has between 1 and \(Self.maximumBuckets) buckets, not \(buckets)")
        }
        guard (0...100).contains(topRefused) else { throw HistoryStoreError.invalidQuery("the refused images listed must be 0 to 100, not \(topRefused)") }
        return self
    }
}

/// The history summed over time (the console's Overview): per bucket the decisions, the denied
/// ones, cache hits and misses and the decisions' latency; and the images refused most often.
/// Every bucket of the range is present, empty ones with zero decisions.
public struct HistoryOverview: Sendable, Hashable, Codable {
    /// One slice of the range: decisions made at or after ``start`` and before the next bucket.
    public struct Bucket: Sendable, Hashable, Codable {
        public var start: Date
        public var decisions: Int
        public var denies: Int
        public var cacheHits: Int
        public var cacheMisses: Int
        /// Mean and highest latency of the bucket's decisions, in milliseconds; nil without decisions.
        public var meanLatencyMs: Double?
        public var maxLatencyMs: Double?

        /// Hits over lookups; nil when no signature authority was looked up.
        public var cacheHitRate: Double? {
            cacheHits + cacheMisses == 0 ? nil : Double(cacheHits) / Double(cacheHits + cacheMisses)
        }

        enum CodingKeys: String, CodingKey {
            case start, decisions, denies, cacheHits, cacheMisses, meanLatencyMs, maxLatencyMs, cacheHitRate
        }

        public init(start: Date, decisions: Int = 0, denies: Int = 0, cacheHits: Int = 0, cacheMisses: Int = 0, meanLatencyMs: Double? = nil, maxLatencyMs: Double? = nil) {
            self.start = start
            self.decisions = decisions
            self.denies = denies
            self.cacheHits = cacheHits
            self.cacheMisses = cacheMisses
            self.meanLatencyMs = meanLatencyMs
            self.maxLatencyMs = maxLatencyMs
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                start: try container.decode(Date.self, forKey: .start), decisions: try container.decode(Int.self, forKey: .decisions),
                denies: try container.decode(Int.self, forKey: .denies), cacheHits: try container.decode(Int.self, forKey: .cacheHits),
                cacheMisses: try container.decode(Int.self, forKey: .cacheMisses),
                meanLatencyMs: try container.decodeIfPresent(Double.self, forKey: .meanLatencyMs),
                maxLatencyMs: try container.decodeIfPresent(Double.self, forKey: .maxLatencyMs))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(start, forKey: .start)
            try container.encode(decisions, forKey: .decisions)
            try container.encode(denies, forKey: .denies)
            try container.encode(cacheHits, forKey: .cacheHits)
            try container.encode(cacheMisses, forKey: .cacheMisses)
            try container.encodeIfPresent(meanLatencyMs, forKey: .meanLatencyMs)
            try container.encodeIfPresent(maxLatencyMs, forKey: .maxLatencyMs)
            try container.encodeIfPresent(cacheHitRate, forKey: .cacheHitRate)
        }
    }

    /// An image refused in the range: how often, and when last.
    public struct RefusedImage: Sendable, Hashable, Codable {
        /// The normalised reference (or the image as written when it did not parse).
        public var image: String
        public var denies: Int
        public var lastDenied: Date

        public init(image: String, denies: Int, lastDenied: Date) {
            self.image = image
            self.denies = denies
            self.lastDenied = lastDenied
        }
    }

    public var since: Date
    public var until: Date
    public var bucketSeconds: Double
    public var buckets: [Bucket]
    /// Most denials first (then the most recent).
    public var topRefused: [RefusedImage]

    public init(since: Date, until: Date, bucketSeconds: Double, buckets: [Bucket], topRefused: [RefusedImage]) {
        self.since = since
        self.until = until
        self.bucketSeconds = bucketSeconds
        self.buckets = buckets
        self.topRefused = topRefused
    }

    /// Decisions, denies and cache lookups over the whole range.
    public var totals: Bucket {
        var total = Bucket(start: since)
        var latencySum = 0.0
        for bucket in buckets {
            total.decisions += bucket.decisions
            total.denies += bucket.denies
            total.cacheHits += bucket.cacheHits
            total.cacheMisses += bucket.cacheMisses
            latencySum += (bucket.meanLatencyMs ?? 0) * Double(bucket.decisions)
            if let max = bucket.maxLatencyMs { total.maxLatencyMs = Swift.max(total.maxLatencyMs ?? 0, max) }
        }
        total.meanLatencyMs = total.decisions == 0 ? nil : latencySum / Double(total.decisions)
        return total
    }

    /// One row of the buckets statement as a backend reads it.
    struct BucketRow {
        var index: Int64
        var decisions: Int64
        var denies: Int64
        var cacheHits: Int64
        var cacheMisses: Int64
        var meanLatencyMs: Double?
        var maxLatencyMs: Double?
    }

    /// The overview of `query` from the rows both backends read alike.
    static func assemble(_ query: HistoryOverviewQuery, buckets rows: [BucketRow], refused: [(String, Int64, Int64)]) -> HistoryOverview {
        let width = query.bucketMicroseconds
        let start = HistoryEntry.microseconds(query.since)
        var buckets = (0..<query.buckets).map { Bucket(start: HistoryEntry.date(microseconds: start + Int64($0) * width)) }
        for row in rows where (0..<Int64(query.buckets)).contains(row.index) {
            let index = Int(row.index)
            buckets[index].decisions = Int(row.decisions)
            buckets[index].denies = Int(row.denies)
            buckets[index].cacheHits = Int(row.cacheHits)
            buckets[index].cacheMisses = Int(row.cacheMisses)
            buckets[index].meanLatencyMs = row.meanLatencyMs
            buckets[index].maxLatencyMs = row.maxLatencyMs
        }
        return HistoryOverview(
            since: query.since, until: query.until, bucketSeconds: Double(width) / 1_000_000, buckets: buckets,
            topRefused: refused.map { RefusedImage(image: $0.0, denies: Int($0.1), lastDenied: HistoryEntry.date(microseconds: $0.2)) })
    }
}
