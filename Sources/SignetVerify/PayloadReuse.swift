import SignetRegistry

/// The payloads kept while the simple-signing layers of one cosign `.sig` image are checked
/// (cosign signature specification: each layer's digest names its payload blob), so a payload
/// several layers share is fetched once.
///
/// Only a payload whose digest comes again is kept, only until its last layer is checked, and at
/// most ``maximumBytes`` in all: a `.sig` image of a hundred layers with a payload of 1 MiB each
/// would otherwise hold 100 MiB for one verification. A payload past the bound is fetched again
/// when its digest comes back.
struct PayloadReuse {
    /// The most payload bytes kept at once for one `.sig` image.
    static let maximumBytes = 4 * 1024 * 1024

    private let maximumBytes: Int
    /// How many layers still to be checked name each digest.
    private var layersLeft: [ImageDigest: Int] = [:]
    private var kept: [ImageDigest: Result<[UInt8], LayerRejection>] = [:]
    private(set) var keptBytes = 0

    /// For the layers naming `digests`, in the order they will be checked.
    init(digests: some Sequence<ImageDigest>, maximumBytes: Int = PayloadReuse.maximumBytes) {
        self.maximumBytes = maximumBytes
        for digest in digests { layersLeft[digest, default: 0] += 1 }
    }

    /// The next layer names `digest`: its payload if one is kept (dropped when no later layer
    /// names it), else nil, and the caller fetches it and offers it to ``keep(_:for:)``.
    mutating func next(_ digest: ImageDigest) -> Result<[UInt8], LayerRejection>? {
        let left = (layersLeft[digest] ?? 1) - 1
        layersLeft[digest] = left > 0 ? left : nil
        guard left == 0 else { return kept[digest] }
        guard let outcome = kept.removeValue(forKey: digest) else { return nil }
        if case .success(let bytes) = outcome { keptBytes -= bytes.count }
        return outcome
    }

    /// The next layer names `digest` but is refused before its payload is needed.
    mutating func skip(_ digest: ImageDigest) {
        _ = next(digest)
    }

    /// Keeps the outcome of fetching `digest` when a later layer names it and it fits.
    mutating func keep(_ outcome: Result<[UInt8], LayerRejection>, for digest: ImageDigest) {
        guard layersLeft[digest] != nil else { return }
        if case .success(let bytes) = outcome {
            guard keptBytes + bytes.count <= maximumBytes else { return }
            keptBytes += bytes.count
        }
        kept[digest] = outcome
    }

    /// Payloads kept now.
    var keptCount: Int { kept.count }
}
