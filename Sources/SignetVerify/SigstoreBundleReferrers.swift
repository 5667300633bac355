import Foundation
import SignetPolicy
import SignetRegistry
import SignetSigstore

/// Finds and reads the Sigstore bundles attached to an image as OCI referrers, the way cosign
/// attaches them (sigstore/cosign `specs/BUNDLE_SPEC.md`; OCI distribution specification v1.1,
/// "Listing Referrers", or its "Referrers Tag Schema" fallback): referrers whose `artifactType`
/// is a Sigstore bundle media type, each an image manifest whose `subject` is the image and
/// whose layer of that media type holds the bundle JSON.
///
/// Shared by the keyless and the key-based verifiers and by attestations
/// (``scan(_:into:maximumBytes:optional:while:examine:)``); what a bundle must prove is theirs
/// to check. Content that cannot be used (a missing, oversized or tampered blob, a manifest with
/// another subject, JSON that is not a bundle) is a rejection of that referrer, never an error,
/// so whoever may push a referrer cannot keep a valid bundle after it from being examined; a
/// registry that cannot be reached is an error. An answer that cannot be read (a malformed
/// manifest, or a registry's 500) is passed over too, and returned, to be the verification's
/// error when nothing else verifies.
struct SigstoreBundleReferrers {
    /// The prefix every Sigstore bundle media type shares.
    static let mediaTypePrefix = "application/vnd.dev.sigstore.bundle"
    /// The largest bundle blob accepted (bundles are a few kilobytes).
    static let maximumBundleBytes = 4 * 1024 * 1024
    /// The most bundle referrers examined for one image.
    static let maximumReferrers = 32

    /// The bundle referrers of one image.
    struct Listing {
        /// The `bundle referrers` step: how many referrers, from where, how many bundles.
        var step: VerificationStep
        /// Why nothing was found, when no bundle refers to the image.
        var absence: String?
        /// The bundle referrers to examine, at most ``maximumReferrers``.
        var bundles: [Descriptor]
        /// Bundle referrers beyond ``maximumReferrers``, not examined.
        var overflow: Int
    }

    /// One bundle read from a referrer.
    struct Fetched {
        var bundle: SigstoreBundle
        /// The layer that held it.
        var layer: Descriptor
        var byteCount: Int
    }

    let registry: RegistryClient

    /// Whether `type` names a Sigstore bundle (`artifactType` of a referrer or a layer's media type).
    static func isBundleMediaType(_ type: String?) -> Bool {
        type?.hasPrefix(mediaTypePrefix) == true
    }

    /// Lists the bundle referrers of `request.digest`.
    func list(_ request: VerificationRequest) async throws(VerificationError) -> Listing {
        let listing: ReferrersResult
        do {
            // Bundles alone are kept, page by page: a repository's other referrers (thousands of
            // them, or large ones) are counted, not held.
            listing = try await registry.referrers(
                of: request.digest, in: request.image, artifactTypePrefix: Self.mediaTypePrefix, deadline: request.deadline)
        } catch {
            throw VerificationError(error)
        }
        let bundles = listing.referrers
        let via = switch listing.source {
        case .referrersAPI: "the referrers API"
        case .tagSchema: "the \(request.digest.tagForm) tag index"
        case .none: "neither the referrers API nor a \(request.digest.tagForm) tag index"
        }
        let step = VerificationStep(
            name: "bundle referrers", passed: !bundles.isEmpty,
            detail: "\(listing.listedCount) referrer(s) of \(request.digest) from \(via), \(bundles.count) Sigstore bundle(s)")
        let absence = bundles.isEmpty
            ? "no Sigstore bundle refers to \(request.digest) (\(listing.listedCount) referrer(s) from \(via))" : nil
        return Listing(
            step: step, absence: absence, bundles: Array(bundles.prefix(Self.maximumReferrers)),
            overflow: max(0, bundles.count - Self.maximumReferrers))
    }

    /// Lists the bundle referrers of `request.digest` and reads each in turn, recording in `run`
    /// the listing step, an absence, every referrer refused and those beyond
    /// ``maximumReferrers``, and handing `examine` each bundle read with its label
    /// (`bundle sha256:…`) and its referrer, while `proceed` says more are wanted.
    ///
    /// With `optional`, finding no bundle is not a failed step (attestations may all be in the
    /// `.att` image); for a signature it is.
    ///
    /// Returns the error of the first referrer whose registry answer could not be read
    /// (``LayerRejection/unreadable``), for the caller to throw when what it wanted was not found.
    ///
    /// With a ``BundleReferrerRecording/fetchBudget`` (attestations), every bundle blob read is
    /// counted in it, whether it turns out to be a bundle or not: the referring manifests are read
    /// first, then their bundles smallest first, so large bundles pushed beside a real one spend
    /// the budget after it, not before; one larger than what is left is refused unread, and once
    /// it is spent the bundles left are not examined (each a refusal the verdict names).
    @discardableResult
    func scan<Run: BundleReferrerRecording>(
        _ request: VerificationRequest, into run: inout Run, maximumBytes: Int = maximumBundleBytes, optional: Bool = false,
        while proceed: (Run) -> Bool = { _ in true },
        examine: (inout Run, _ label: String, _ referrer: Descriptor, _ bundle: SigstoreBundle) async throws(VerificationError) -> Void
    ) async throws(VerificationError) -> VerificationError? {
        let listing: Listing
        do {
            listing = try await list(request)
        } catch where error.registryError?.kind == .badResponse || error.registryError?.kind == .tooLarge {
            // A listing signet cannot read (one referrer with a megabyte of annotations, which a
            // registry copies into the list, or thousands of referrers): anyone who may push a
            // referrer can make one. Nothing is found here, and the listing's error is the
            // verification's only if nothing else verifies (a signature in the .sig image, an
            // attestation in the .att image).
            run.steps.append(VerificationStep(name: "bundle referrers", passed: optional, detail: "the referrers of \(request.digest) cannot be read: \(error)"))
            run.recordAbsence("the referrers of \(request.digest) cannot be read: \(error)")
            return error
        }
        var step = listing.step
        if optional { step.passed = true }
        run.steps.append(step)
        if let absence = listing.absence {
            run.recordAbsence(absence)
            return nil
        }
        var unreadable: VerificationError?
        func refuse(_ label: String, _ rejection: LayerRejection, in run: inout Run) {
            run.reject(label, step: rejection.step, rejection.reason)
            unreadable = unreadable ?? rejection.unreadable
        }
        if run.fetchBudget == nil {
            // One referrer after the other, until `proceed` says enough.
            for descriptor in listing.bundles {
                guard proceed(run) else { break }
                run.recordCandidate()
                let label = "bundle \(descriptor.digest)"
                switch try await bundleLayer(descriptor, for: request) {
                case .failure(let rejection): refuse(label, rejection, in: &run)
                case .success(let layer):
                    switch try await bundle(layer, for: request, maximumBytes: maximumBytes, budget: &run.fetchBudget) {
                    case .failure(let rejection): refuse(label, rejection, in: &run)
                    case .success(let fetched): try await take(fetched, label: label, descriptor: descriptor, into: &run, examine: examine)
                    }
                }
            }
        } else {
            // Every referring manifest first, then the bundles smallest first.
            var layers: [(descriptor: Descriptor, layer: Descriptor)] = []
            for descriptor in listing.bundles {
                switch try await bundleLayer(descriptor, for: request) {
                case .failure(let rejection):
                    run.recordCandidate()
                    refuse("bundle \(descriptor.digest)", rejection, in: &run)
                case .success(let layer): layers.append((descriptor, layer))
                }
            }
            // Stable: equal sizes keep the listing's order.
            let ordered = layers.enumerated().sorted { ($0.element.layer.size, $0.offset) < ($1.element.layer.size, $1.offset) }.map(\.element)
            for (index, (descriptor, layer)) in ordered.enumerated() {
                guard proceed(run) else { break }
                guard let budget = run.fetchBudget, budget.remaining > 0 else {
                    run.recordUnexamined(
                        "\(ordered.count - index) further bundle(s) not examined: the \(run.fetchBudget?.limit ?? 0) bytes signet downloads "
                            + "of one image's bundle referrers were read")
                    break
                }
                run.recordCandidate()
                let label = "bundle \(descriptor.digest)"
                switch try await bundle(layer, for: request, maximumBytes: maximumBytes, budget: &run.fetchBudget) {
                case .failure(let rejection): refuse(label, rejection, in: &run)
                case .success(let fetched): try await take(fetched, label: label, descriptor: descriptor, into: &run, examine: examine)
                }
            }
        }
        if listing.overflow > 0 {
            run.recordUnexamined("\(listing.overflow) further bundle(s) not examined (at most \(Self.maximumReferrers))")
        }
        return unreadable
    }

    /// Records a bundle read and hands it to `examine`.
    private func take<Run: BundleReferrerRecording>(
        _ fetched: Fetched, label: String, descriptor: Descriptor, into run: inout Run,
        examine: (inout Run, _ label: String, _ referrer: Descriptor, _ bundle: SigstoreBundle) async throws(VerificationError) -> Void
    ) async throws(VerificationError) {
        run.steps.append(VerificationStep(
            name: "\(label) bundle", passed: true, detail: "\(fetched.bundle.mediaType), \(fetched.layer.digest), \(fetched.byteCount) bytes"))
        try await examine(&run, label, descriptor, fetched.bundle)
    }

    /// The layer holding the bundle of the referring manifest `descriptor`, or why it cannot be used.
    private func bundleLayer(_ descriptor: Descriptor, for request: VerificationRequest) async throws(VerificationError) -> Result<Descriptor, LayerRejection> {
        let fetched: FetchedManifest
        do {
            fetched = try await registry.manifest(request.image.withDigest(descriptor.digest), deadline: request.deadline)
        } catch where error.kind == .notFound || error.kind == .digestMismatch || error.kind == .tooLarge {
            return .failure(LayerRejection(step: "manifest", reason: "the referring manifest cannot be used: \(error)"))
        } catch where error.kind == .badResponse {
            return .failure(LayerRejection(step: "manifest", reason: "the referring manifest cannot be read: \(error)", unreadable: VerificationError(error)))
        } catch {
            throw VerificationError(error)
        }
        guard let manifest = fetched.imageManifest else {
            return .failure(LayerRejection(step: "manifest", reason: "the referrer is not an image manifest"))
        }
        guard manifest.subject?.digest == request.digest else {
            return .failure(LayerRejection(
                step: "manifest", reason: "its subject is \(manifest.subject.map { "\($0.digest)" } ?? "missing"), not the image \(request.digest)"))
        }
        guard let layer = manifest.layers.first(where: { Self.isBundleMediaType($0.mediaType) }) else {
            return .failure(LayerRejection(step: "manifest", reason: "no layer holds a Sigstore bundle"))
        }
        return .success(layer)
    }

    /// The bundle in `layer`, or why it cannot be used. With a `budget`, a blob larger than what
    /// is left of it is refused unread, one is read up to its descriptor's size (a body larger is
    /// refused there), and what is downloaded is counted in it whatever it turns out to be: a
    /// blob that does not match its digest costs its size, no more.
    private func bundle(
        _ layer: Descriptor, for request: VerificationRequest, maximumBytes: Int, budget: inout VerificationByteBudget?
    ) async throws(VerificationError) -> Result<Fetched, LayerRejection> {
        guard layer.size <= Int64(maximumBytes) else {
            return .failure(LayerRejection(step: "bundle blob", reason: "the bundle is \(layer.size) bytes, more than the \(maximumBytes) accepted"))
        }
        if let refusal = budget?.refusal(forBlobOf: layer.size) {
            return .failure(LayerRejection(step: "bundle blob", reason: "the bundle \(layer.digest) was \(refusal)"))
        }
        let limit = budget == nil ? maximumBytes : Int(layer.size)
        let bytes: [UInt8]
        do {
            bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: limit, deadline: request.deadline)
        } catch where error.kind == .notFound || error.kind == .digestMismatch || error.kind == .tooLarge {
            if error.kind != .notFound { budget?.spend(limit) }
            return .failure(LayerRejection(step: "bundle blob", reason: "the bundle blob \(layer.digest) cannot be used: \(error)"))
        } catch where error.kind == .badResponse {
            budget?.spend(limit)
            return .failure(LayerRejection(
                step: "bundle blob", reason: "the bundle blob \(layer.digest) cannot be read: \(error)", unreadable: VerificationError(error)))
        } catch {
            throw VerificationError(error)
        }
        budget?.spend(bytes.count)
        do {
            return .success(Fetched(bundle: try SigstoreBundle(json: bytes), layer: layer, byteCount: bytes.count))
        } catch {
            return .failure(LayerRejection(step: "bundle", reason: "\(error)"))
        }
    }
}

/// What a verification records while ``SigstoreBundleReferrers`` scans an image's bundles.
protocol BundleReferrerRecording {
    var steps: [VerificationStep] { get set }
    /// What the verification may still download of bundle blobs (``VerificationByteBudget``);
    /// nil: each bundle's own cap and the count of referrers bound it.
    var fetchBudget: VerificationByteBudget? { get set }
    /// No bundle refers to the image: why.
    mutating func recordAbsence(_ reason: String)
    /// One more referrer examined.
    mutating func recordCandidate()
    /// A referrer refused at `step` (`manifest`, `bundle blob`, `bundle`, or the caller's own).
    mutating func reject(_ label: String, step: String, _ reason: String)
    /// Referrers left unexamined beyond the limit.
    mutating func recordUnexamined(_ note: String)
}
