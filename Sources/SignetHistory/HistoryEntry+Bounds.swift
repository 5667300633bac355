/// How much of one decision the history keeps, so what a client writes into an object (image
/// strings, container counts) cannot grow the store or a page of it without bound.
///
/// The Kubernetes API (`core/v1` `Container.image`, validated only as non-empty) does not limit
/// the length of an image nor the number of containers beyond the request size (3 MiB by
/// default), and a `dryRun` create (`admission.k8s.io/v1` `AdmissionRequest.dryRun`) is decided and recorded
/// like any other; without these bounds one user who may create Pods in one namespace could
/// write megabytes per decision, filling the store's disk and making every History page of
/// such decisions megabytes large. Every text is cut to a number of Unicode scalars (a
/// `Character` may hold any number of them), lists to a number of items, and an entry's images
/// stop where their text passes ``maximumImageBytes``; the entry's reason then says how many
/// images were not kept. Typical decisions (a few images, references under a kilobyte) are kept whole.
public enum HistoryEntryBounds {
    /// Names and references: namespace, object name, user, image as written, reference, digest, container.
    public static let maximumNameScalars = 1024
    /// Reasons and trust chains.
    public static let maximumTextScalars = 4096
    /// Items of an image's policies, authorities and exemptions (each item at most ``maximumNameScalars``).
    public static let maximumListItems = 32
    /// The UTF-8 bytes of all kept images of one entry; the first image is always kept.
    public static let maximumImageBytes = 128 * 1024

    /// `text`, or its first `limit` Unicode scalars and a note of how many more there were; a NUL
    /// becomes U+FFFD. PostgreSQL refuses a `text` value holding NUL (and the store's whole
    /// batch with it: every decision recorded beside it, anyone's), and SQLite's bindings cut the
    /// text there; a registry's error body, which reasons quote, is anyone's text.
    public static func clipped(_ text: String, to limit: Int) -> String {
        let text = withoutNUL(text)
        let count = text.unicodeScalars.count
        guard count > limit else { return text }
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: text.unicodeScalars.prefix(limit))
        return String(kept) + "… (\(count - limit) more characters not kept)"
    }

    /// `text` with each NUL as U+FFFD, as the history keeps it: what is stored and what a search
    /// binds are the same text, and PostgreSQL takes both.
    static func withoutNUL(_ text: String) -> String {
        text.utf8.contains(0) ? String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })) : text
    }

    public static func clipped(_ text: String?, to limit: Int) -> String? {
        text.map { clipped($0, to: limit) }
    }

    /// `items` clipped one by one, at most ``maximumListItems`` of them, then a note of how many more.
    static func clipped(_ items: [String]) -> [String] {
        var kept = items.prefix(maximumListItems).map { clipped($0, to: maximumNameScalars) }
        if items.count > maximumListItems { kept.append("… (\(items.count - maximumListItems) more not kept)") }
        return kept
    }

    static func bounded(_ image: HistoryImageRecord) -> HistoryImageRecord {
        HistoryImageRecord(
            image: clipped(image.image, to: maximumNameScalars), reference: clipped(image.reference, to: maximumNameScalars),
            digest: clipped(image.digest, to: maximumNameScalars), container: clipped(image.container, to: maximumNameScalars),
            policies: clipped(image.policies), authorities: clipped(image.authorities), verdict: clipped(image.verdict, to: maximumNameScalars),
            reason: clipped(image.reason, to: maximumTextScalars), trustChain: clipped(image.trustChain, to: maximumTextScalars),
            exemptions: clipped(image.exemptions))
    }

    static func byteCount(_ image: HistoryImageRecord) -> Int {
        let texts = [image.image, image.reference ?? "", image.digest ?? "", image.container ?? "", image.verdict, image.reason, image.trustChain]
        return (texts + image.policies + image.authorities + image.exemptions).reduce(0) { $0 + $1.utf8.count }
    }
}

extension HistoryEntry {
    /// The entry as a store keeps it, within ``HistoryEntryBounds``.
    func bounded() -> HistoryEntry {
        typealias Bounds = HistoryEntryBounds
        var entry = self
        let names: [WritableKeyPath<HistoryEntry, String?>] = [
            \.namespace, \.objectKind, \.name, \.user, \.operation, \.uid, \.peer, \.clientCertificate, \.policyRevision,
        ]
        for keyPath in names {
            entry[keyPath: keyPath] = Bounds.clipped(entry[keyPath: keyPath], to: Bounds.maximumNameScalars)
        }
        var kept: [HistoryImageRecord] = []
        var bytes = 0
        for image in images.map(Bounds.bounded) {
            let size = Bounds.byteCount(image)
            if !kept.isEmpty, bytes + size > Bounds.maximumImageBytes { break }
            kept.append(image)
            bytes += size
        }
        entry.images = kept
        entry.reason = Bounds.clipped(reason, to: Bounds.maximumTextScalars)
        if kept.count < images.count {
            let note = "\(images.count - kept.count) of the decision's \(images.count) images not kept in the history (too large)"
            entry.reason = entry.reason.map { "\($0); \(note)" } ?? note
        }
        return entry
    }
}

extension HistoryEntry {
    /// About how many bytes the entry holds: the UTF-8 of its texts plus a fixed allowance per
    /// entry and per image for the rest. What the recorder's queue counts it as.
    public var estimatedByteCount: Int {
        let texts = [namespace, objectKind, name, user, operation, uid, peer, clientCertificate, reason, policyRevision]
        return texts.reduce(512) { $0 + ($1?.utf8.count ?? 0) }
            + images.reduce(0) { $0 + 256 + HistoryEntryBounds.byteCount($1) }
    }
}
