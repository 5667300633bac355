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
        for descriptor in listing.bundles {
            guard proceed(run) else { break }
            run.recordCandidate()
            let label = "bundle \(descriptor.digest)"
            switch try await fetch(descriptor, for: request, maximumBytes: maximumBytes) {
            case .failure(let rejection):
                run.reject(label, step: rejection.step, rejection.reason)
                unreadable = unreadable ?? rejection.unreadable
            case .success(let fetched):
                run.steps.append(VerificationStep(
                    name: "\(label) bundle", passed: true, detail: "\(fetched.bundle.mediaType), \(fetched.layer.digest), \(fetched.byteCount) bytes"))
                try await examine(&run, label, descriptor, fetched.bundle)
            }
        }
        if listing.overflow > 0 {
            run.recordUnexamined("\(listing.overflow) further bundle(s) not examined (at most \(Self.maximumReferrers))")
        }
        return unreadable
    }

    /// Reads the bundle `descriptor` names; a referrer that cannot be used is a rejection
    /// naming the step that refused it (`manifest`, `bundle blob`, `bundle`).
    func fetch(
        _ descriptor: Descriptor, for request: VerificationRequest, maximumBytes: Int = maximumBundleBytes
    ) async throws(VerificationError) -> Result<Fetched, LayerRejection> {
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
        guard layer.size <= Int64(maximumBytes) else {
            return .failure(LayerRejection(step: "bundle blob", reason: "the bundle is \(layer.size) bytes, more than the \(maximumBytes) accepted"))
        }
        let bytes: [UInt8]
        do {
            bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: maximumBytes, deadline: request.deadline)
        } catch where error.kind == .notFound || error.kind == .digestMismatch || error.kind == .tooLarge {
            return .failure(LayerRejection(step: "bundle blob", reason: "the bundle blob \(layer.digest) cannot be used: \(error)"))
        } catch where error.kind == .badResponse {
            return .failure(LayerRejection(
                step: "bundle blob", reason: "the bundle blob \(layer.digest) cannot be read: \(error)", unreadable: VerificationError(error)))
        } catch {
            throw VerificationError(error)
        }
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
    /// No bundle refers to the image: why.
    mutating func recordAbsence(_ reason: String)
    /// One more referrer examined.
    mutating func recordCandidate()
    /// A referrer refused at `step` (`manifest`, `bundle blob`, `bundle`, or the caller's own).
    mutating func reject(_ label: String, step: String, _ reason: String)
    /// Referrers left unexamined beyond the limit.
    mutating func recordUnexamined(_ note: String)
}
