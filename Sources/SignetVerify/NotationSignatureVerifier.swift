import Foundation
import Metrics
import SignetNotation
import SignetPolicy
import SignetRegistry

/// Verifies Notary Project (Notation) signatures of an image against a `notation` authority
/// (Notary Project signature specification and trust store and trust policy specification).
///
/// Steps, in order:
/// 1. the trust policy statement for the image's repository (`registry/repository`): the one
///    whose `registryScopes` name it, else the global `*` one; none fails the image; at level
///    `skip` the image passes without looking for signatures;
/// 2. the image manifest's descriptor (media type, size), the target every signature must name;
/// 3. discovery: the manifests whose `subject` is the image digest, with artifact type
///    `application/vnd.cncf.notary.signature`, through the referrers API or its `sha256-<hex>`
///    tag index (OCI distribution specification v1.1, "Listing Referrers");
/// 4. for each (at most ``maximumSignatures``): the signature manifest (its `subject` must be the
///    image), its one envelope layer (`application/jose+json` or `application/cose`), and
///    ``NotationVerifier``'s checks at the wall clock's time;
/// 5. the image passes when one signature passes (specification FAQ: no n-of-m).
public struct NotationSignatureVerifier: SignatureVerifier {
    /// The artifact type of Notary Project signature manifests.
    public static let artifactType = MediaType.notarySignature
    /// Signatures examined per image at most (as `notation verify --max-signatures`).
    public static let maximumSignatures = 32

    public let registry: RegistryClient
    public let clock: WallClock
    /// Downloads the CRLs that certificates of trusted chains name, for the revocation check;
    /// nil: only the CRLs an authority supplies count.
    public let crlDownloader: (any CRLDownloading)?
    public var format: SignatureFormat { .notation }

    public init(registry: RegistryClient, clock: WallClock = .system, crlDownloader: (any CRLDownloading)? = nil) {
        self.registry = registry
        self.clock = clock
        self.crlDownloader = crlDownloader
    }

    public func handles(_ authority: CompiledAuthority) -> Bool {
        authority.kindName == .notation
    }

    public func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult {
        guard case .notation(let trust) = request.authority.kind else {
            throw VerificationError.unsupported(request.authority.kind.fieldName)
        }
        var steps: [VerificationStep] = []
        var timings = VerificationResult.Timings()
        func result(_ passed: Bool, _ reason: String, failure: VerificationFailure?, signers: [VerificationResult.Signer] = []) -> VerificationResult {
            VerificationResult(
                image: request.image.description, digest: request.digest, policy: request.policy, authority: request.authority.name,
                format: format, passed: passed, reason: reason, failure: failure, signers: signers, steps: steps, timings: timings)
        }
        if let unresolved = request.authority.unresolvedReason {
            steps.append(VerificationStep(name: "trust material", passed: false, detail: unresolved))
            return result(false, unresolved, failure: .unresolvedTrustMaterial)
        }
        // 1. The trust policy statement.
        let scope = request.image.name
        guard let statement = trust.trustPolicy.statement(for: scope) else {
            let reason = "artifact \(scope) has no applicable trust policy statement: no registryScopes entry names it and there is no global '*' statement"
            steps.append(VerificationStep(name: "trust policy", passed: false, detail: reason))
            return result(false, reason, failure: .noValidSignature)
        }
        steps.append(VerificationStep(
            name: "trust policy", passed: true,
            detail: "statement \"\(statement.name)\" (\(statement.isGlobal ? "global scope" : "scope \(scope)"), level \(statement.level.rawValue))"))
        if statement.level == .skip {
            return result(true, "trust policy statement \"\(statement.name)\" is configured to skip signature verification", failure: nil)
        }

        // 2-3. The image's descriptor and its signatures.
        let fetchStart = ContinuousClock.now
        Counter(label: "signet_verification_signature_fetches_total", dimensions: [("format", format.name)]).increment()
        let target: NotationTarget
        let listed: ReferrersResult
        do {
            let image = try await registry.manifest(request.pinnedImage, deadline: request.deadline)
            target = NotationTarget(digest: request.digest.description, mediaType: image.descriptor.mediaType, size: image.descriptor.size)
            listed = try await registry.referrers(of: request.digest, in: request.image, artifactType: Self.artifactType, deadline: request.deadline)
        } catch {
            throw VerificationError(error)
        }
        let source = switch listed.source {
        case .referrersAPI: "the referrers API"
        case .tagSchema: "the \(request.digest.tagForm) tag index"
        case .none: "the referrers API and the \(request.digest.tagForm) tag index"
        }
        steps.append(VerificationStep(name: "signatures", passed: !listed.referrers.isEmpty, detail: "\(listed.referrers.count) Notation signature(s) found through \(source)"))
        guard !listed.referrers.isEmpty else {
            timings.fetchMilliseconds = (ContinuousClock.now - fetchStart).milliseconds
            return result(false, "no Notation signatures: nothing with artifact type \(Self.artifactType) refers to \(request.digest) (searched \(source))", failure: .noSignatures)
        }

        // 4. Each signature.
        var checkTime = Duration.zero
        var failures: [String] = []
        var downloadsFailedTransiently = false
        // The first signature whose registry answer could not be read: the error, if none verifies.
        var unreadable: VerificationError?
        var verifier = NotationVerifier(statement: statement, stores: trust.trustStores, crls: trust.crls, downloads: CRLDownloads(enabled: crlDownloader != nil))
        for (index, descriptor) in listed.referrers.prefix(Self.maximumSignatures).enumerated() {
            let label = "signature \(index) (\(descriptor.digest))"
            let envelope: (bytes: [UInt8], mediaType: String)
            switch try await fetchEnvelope(descriptor, request: request) {
            case .failure(let rejection):
                steps.append(VerificationStep(name: label, passed: false, detail: rejection.reason))
                failures.append("\(label): \(rejection.reason)")
                unreadable = unreadable ?? rejection.unreadable
                continue
            case .success(let fetched):
                envelope = fetched
            }
            var checkStart = ContinuousClock.now
            var outcome = verifier.verify(envelope: envelope.bytes, mediaType: envelope.mediaType, target: target, at: clock.now)
            checkTime += ContinuousClock.now - checkStart
            // The revocation step names the CRLs it needs (of a trusted chain only): download
            // them and check again. Each pass downloads what the one before named: a chain's and
            // its TSA's CRLs take one pass, the delta CRLs they announce a second; the bound only
            // stops a verifier that keeps asking.
            var passes = 0
            while let downloader = crlDownloader, !outcome.crlLocationsToDownload.isEmpty, passes < 3 {
                passes += 1
                var downloads = verifier.downloads
                let fetched = await downloader.download(outcome.crlLocationsToDownload, deadline: request.deadline)
                downloads.results.merge(fetched) { _, new in new }
                for location in outcome.crlLocationsToDownload where downloads.results[location] == nil {
                    downloads.results[location] = .failure(CRLDownloadFailure("no answer before the verification deadline", isTransient: true))
                }
                verifier = verifier.with(downloads)
                checkStart = ContinuousClock.now
                outcome = verifier.verify(envelope: envelope.bytes, mediaType: envelope.mediaType, target: target, at: clock.now)
                checkTime += ContinuousClock.now - checkStart
            }
            // Still naming CRLs to download after the passes: not a verdict either.
            if outcome.crlDownloadFailedTransiently || !outcome.crlLocationsToDownload.isEmpty, !outcome.passed { downloadsFailedTransiently = true }
            for location in outcome.crlLocationsRejected {
                if case .success(let list) = verifier.downloads.results[location] { crlDownloader?.discard(location, list: list) }
            }
            for check in outcome.checks {
                let state = check.passed.map { $0 ? "passed" : (check.action == "log" ? "failed, logged" : "failed") } ?? "skipped"
                steps.append(VerificationStep(name: "\(label) \(check.check)", passed: check.passed ?? true, detail: "\(check.action): \(state): \(check.detail)"))
            }
            if let time = outcome.signingTimeSource {
                steps.append(VerificationStep(name: "\(label) signing time", passed: true, detail: time))
            }
            if !outcome.chain.isEmpty {
                steps.append(VerificationStep(name: "\(label) certificate chain", passed: outcome.passed, detail: outcome.chain.joined(separator: " <- ")))
            }
            guard let failure = outcome.failure else {
                timings.fetchMilliseconds = ((ContinuousClock.now - fetchStart) - checkTime).milliseconds
                timings.checkMilliseconds = checkTime.milliseconds
                let logged = outcome.loggedFailures
                let signer = VerificationResult.Signer(
                    key: "trust policy statement \(statement.name)", algorithm: outcome.signingScheme?.rawValue ?? "notary.x509",
                    fingerprint: descriptor.digest.encoded, identity: outcome.signer, layers: [index],
                    certificateChain: outcome.chain.isEmpty ? nil : outcome.chain)
                let note = logged.isEmpty ? "" : "; logged: " + logged.joined(separator: "; ")
                var passed = result(true, "Notation signature by \(outcome.signer ?? "unknown") verified under trust policy statement \"\(statement.name)\" (level \(statement.level.rawValue))\(note)", failure: nil, signers: [signer])
                passed.validUntil = outcome.validUntil
                if let downloader = crlDownloader, !verifier.downloads.results.isEmpty {
                    // A downloaded CRL is used for maximumAge after its download at most: the pass
                    // holds no longer (a CRL no longer kept counts from now).
                    let oldest = verifier.downloads.results.keys.compactMap(downloader.downloadTime(of:)).min() ?? clock.now
                    let renewal = oldest.addingTimeInterval(Double(downloader.maximumAge.components.seconds))
                    passed.validUntil = min(passed.validUntil ?? renewal, renewal)
                }
                return passed
            }
            failures.append("\(label): \(failure)")
        }
        timings.fetchMilliseconds = ((ContinuousClock.now - fetchStart) - checkTime).milliseconds
        timings.checkMilliseconds = checkTime.milliseconds
        let summary = failures.count == 1 ? failures[0] : "none of \(failures.count) Notation signatures verified: " + failures.joined(separator: "; ")
        // A CRL that could not be downloaded for now is not a verdict on the image: answer with
        // an error, which is not kept, so the next review downloads again.
        if downloadsFailedTransiently {
            throw VerificationError.trustServerUnavailable("\(summary) (trust policy statement \"\(statement.name)\")")
        }
        // Nor is a signature the registry's answer for could not be read.
        if let unreadable { throw unreadable }
        return result(false, "\(summary) (trust policy statement \"\(statement.name)\", level \(statement.level.rawValue))", failure: .noValidSignature)
    }

    private struct Rejection: Error {
        let reason: String
        /// ``LayerRejection/unreadable``.
        var unreadable: VerificationError? = nil
    }

    /// The signature manifest and its envelope blob; a malformed or oversized artifact is a
    /// rejection (whoever may push a referrer must not keep the signatures after it from being
    /// examined), as is an answer that cannot be read (kept as ``Rejection/unreadable``); a
    /// registry that cannot be reached, or refuses, is thrown.
    private func fetchEnvelope(_ descriptor: Descriptor, request: VerificationRequest) async throws(VerificationError) -> Result<([UInt8], String), Rejection> {
        do {
            let manifest = try await registry.manifest(request.image.withDigest(descriptor.digest), accepting: [MediaType.ociManifest], deadline: request.deadline)
            guard let image = manifest.imageManifest else { return .failure(Rejection(reason: "not an image manifest")) }
            guard image.subject?.digest == request.digest else {
                return .failure(Rejection(reason: "its subject is \(image.subject?.digest.description ?? "absent"), not \(request.digest)"))
            }
            // The envelope's form is part of integrity (specification, "Validate Integrity":
            // the envelope type comes from the signature manifest's layer).
            guard image.layers.count == 1, let layer = image.layers.first else {
                return .failure(Rejection(reason: "integrity validation failed: a Notation signature manifest has exactly one envelope layer, this one has \(image.layers.count)"))
            }
            guard NotationEnvelope.Format(rawValue: layer.mediaType) != nil else {
                return .failure(Rejection(reason: "integrity validation failed: unsupported signature envelope media type \"\(layer.mediaType)\" (expected application/jose+json or application/cose)"))
            }
            guard layer.size <= Int64(NotationEnvelope.maximumBytes) else {
                return .failure(Rejection(reason: "the envelope is \(layer.size) bytes, over the \(NotationEnvelope.maximumBytes) limit"))
            }
            let bytes = try await registry.blob(layer.digest, in: request.image, maximumBytes: NotationEnvelope.maximumBytes, deadline: request.deadline)
            guard Int64(bytes.count) == layer.size else {
                return .failure(Rejection(reason: "the envelope is \(bytes.count) bytes; its descriptor says \(layer.size)"))
            }
            return .success((bytes, layer.mediaType))
        } catch let error where error.kind == .notFound || error.kind == .digestMismatch || error.kind == .tooLarge {
            return .failure(Rejection(reason: "\(error)"))
        } catch let error where error.kind == .badResponse {
            return .failure(Rejection(reason: "cannot be read: \(error)", unreadable: VerificationError(error)))
        } catch {
            throw VerificationError(error)
        }
    }
}

extension SignatureFormat {
    /// Notary Project signatures (JWS or COSE envelopes found as OCI referrers).
    public static let notation = SignatureFormat("notation")
}
