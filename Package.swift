// swift-tools-version:6.1
// signet: a Kubernetes validating admission webhook that admits a pod only when every image it
// runs carries a trusted signature. See docs/architecture.md for the architecture.
import PackageDescription

let package = Package(
    name: "signet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "signet", targets: ["signet"]),
        // The parsing modules, for the libFuzzer targets of Fuzz/ (a package of its own, so the
        // fuzzer and sanitizer flags never reach this build).
        .library(
            name: "SignetParsers",
            targets: [
                "SignetHTTP", "SignetAdmission", "SignetCrypto", "SignetRegistry", "SignetSigstore", "SignetVerify",
                "SignetTUF", "SignetNotation", "SignetNotary", "SignetAttestation", "SignetJSON",
            ]
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // NIOConcurrencyHelpers: the one lock of the project (a pthread mutex, which ThreadSanitizer
        // sees). Already in the graph through postgres-nio.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        // System OpenSSL 3 (libssl, libcrypto) as the toolchain sees it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Typed C wrappers for OpenSSL macros and callbacks Swift cannot import directly.
        .target(name: "CSignetOpenSSL", dependencies: ["COpenSSL"]),
        // System libcurl (OpenSSL flavour, HTTP/2 through nghttp2).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev", "libnghttp2-dev"])]
        ),
        // Typed wrappers for curl_easy_setopt / curl_easy_getinfo / curl_multi_setopt (variadic in C).
        .target(name: "CSignetCurl", dependencies: ["CCurl"]),

        // Linux epoll/eventfd and socket options for the server's event loops.
        .target(name: "CSignetSystem"),

        // The gate in front of Foundation's JSON readers for documents from registries and
        // signature servers: values, objects and nesting counted before anything is built.
        .target(name: "SignetJSON", swiftSettings: strictSettings),

        // Digests, keys, X.509 and signatures over OpenSSL's libcrypto.
        .target(name: "SignetCrypto", dependencies: ["CSignetOpenSSL", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], swiftSettings: strictSettings),

        // Sigstore: trusted roots, bundles, Rekor entries and proofs, Fulcio identities, offline verification.
        .target(name: "SignetSigstore", dependencies: ["SignetCrypto", "SignetJSON"], swiftSettings: strictSettings),

        // Notary Project (Notation) signatures: JWS and COSE envelopes (with a strict CBOR
        // decoder), trust policy documents, trust stores and the verification steps.
        .target(name: "SignetNotation", dependencies: ["SignetCrypto", "SignetJSON"], swiftSettings: strictSettings),

        // in-toto attestations: statements (v0.1, v1), predicate types and cosign's aliases,
        // declarative conditions on predicates and the fields they read.
        .target(name: "SignetAttestation", dependencies: ["SignetJSON"], swiftSettings: strictSettings),

        // HTTP/1.1 codec and TLS engine on bytes; the server that owns sockets, limits and timeouts.
        .target(
            name: "SignetHTTP",
            dependencies: [
                "CSignetOpenSSL",
                "CSignetSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The outgoing HTTP client: libcurl's multi interface on a thread of its own, plain and
        // streamed exchanges. Used by the registry client and the Kubernetes API client.
        .target(name: "SignetHTTPClient", dependencies: ["CSignetCurl", "CSignetSystem", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], swiftSettings: strictSettings),
        // The TUF 1.0 client: metadata, canonical JSON, the trusted set and the update workflow,
        // a fetcher over SignetHTTPClient and a metadata store on disk. Used by the Sigstore
        // trusted-root updater and by Notary v1.
        .target(name: "SignetTUF", dependencies: ["SignetCrypto", "SignetJSON", "SignetHTTPClient", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], swiftSettings: strictSettings),
        // The Sigstore trusted root kept current through TUF: the embedded TUF root as bootstrap,
        // a mirror, a refresh interval, the last good metadata on disk.
        .target(name: "SignetTrustRoot", dependencies: ["SignetTUF", "SignetSigstore", "SignetCrypto", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], swiftSettings: strictSettings),
        // Image references, manifests and the OCI distribution client.
        .target(
            name: "SignetRegistry",
            dependencies: [
                "SignetHTTPClient",
                "SignetCrypto",
                "SignetJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Policies as written and as compiled, image matching and decisions.
        .target(
            name: "SignetPolicy",
            dependencies: [
                "SignetRegistry",
                "SignetCrypto",
                "SignetSigstore",
                "SignetNotation",
                "SignetAttestation",
                "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The verification engine: the Verifier seam per signature format, cosign key-based
        // signatures, the digest-keyed signature cache.
        .target(
            name: "SignetVerify",
            dependencies: [
                "SignetJSON",
                "SignetRegistry",
                "SignetCrypto",
                "SignetSigstore",
                "SignetNotation",
                "SignetAttestation",
                "SignetPolicy",
                "SignetHTTPClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Notary v1 / Docker Content Trust: Notary's metadata format over SignetTUF, the trusted
        // collection verified from pinned root keys, the server client, the verifier behind the seam.
        .target(
            name: "SignetNotary",
            dependencies: [
                "SignetTUF",
                "SignetHTTPClient",
                "SignetCrypto",
                "SignetRegistry",
                "SignetPolicy",
                "SignetVerify",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The in-cluster Kubernetes API client: list/watch with resume, the resource store,
        // pull secrets.
        .target(
            name: "SignetKube",
            dependencies: [
                "SignetHTTPClient",
                "SignetRegistry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // AdmissionReview types, image extraction per workload kind, the /validate responder.
        .target(
            name: "SignetAdmission",
            dependencies: [
                "SignetJSON",
                "SignetPolicy",
                "SignetRegistry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Continuous verification beside the admission path: running Pods decided by the
        // admission responder, PolicyReports, alerts to webhooks.
        .target(
            name: "SignetContinuous",
            dependencies: [
                "SignetAdmission",
                "SignetPolicy",
                "SignetKube",
                "SignetRegistry",
                "SignetHTTPClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The verification console: pages and a JSON API on their own port, every request
        // authenticated by a TokenReview and authorised by a SubjectAccessReview; verifications
        // on demand through the admission engine, trust chains drawn as SVG, server-sent events;
        // the history store's decisions with filters, detail pages and charts.
        .target(
            name: "SignetConsole",
            dependencies: [
                "SignetHTTP",
                "SignetKube",
                "SignetPolicy",
                "SignetVerify",
                "SignetAdmission",
                "SignetRegistry",
                "SignetCrypto",
                "SignetHistory",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The verification history: admission decisions and on-demand verifications behind one
        // store protocol (SQLite embedded, PostgreSQL shared), retention, and the recorder that
        // writes them off the admission path.
        .target(
            name: "SignetHistory",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C interface, for the progress handler that ends a read at its time limit.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The command line: serve, review, version. A library so tests can drive it.
        .target(
            name: "SignetCLI",
            dependencies: [
                "CSignetSystem",
                "SignetHTTP",
                "SignetPolicy",
                "SignetAdmission",
                "SignetVerify",
                "SignetNotary",
                "SignetRegistry",
                "SignetSigstore",
                "SignetTrustRoot",
                "SignetTUF",
                "SignetKube",
                "SignetContinuous",
                "SignetConsole",
                "SignetHistory",
                "Yams",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(name: "signet", dependencies: ["SignetCLI", "SignetCrypto", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strictSettings),

        // Shared test helpers: a test PKI made with the openssl CLI, process and port helpers,
        // a libcurl client.
        .target(
            name: "SignetTestSupport",
            dependencies: [
                "CSignetCurl", "SignetHistory", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SignetTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetHTTPTests",
            dependencies: ["SignetHTTP", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetRegistryTests",
            dependencies: ["SignetRegistry", "SignetHTTPClient", "SignetCrypto", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetPolicyTests",
            dependencies: [
                "SignetPolicy", "SignetRegistry", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetAdmissionTests",
            dependencies: ["SignetAdmission", "SignetPolicy", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetVerifyTests",
            dependencies: ["SignetVerify", "SignetPolicy", "SignetRegistry", "SignetCrypto", "SignetSigstore", "SignetAttestation", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetJSONTests",
            dependencies: ["SignetJSON"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetAttestationTests",
            dependencies: ["SignetAttestation"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetNotationTests",
            dependencies: ["SignetNotation", "SignetCrypto", "SignetVerify", "SignetPolicy", "SignetRegistry", "SignetTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetSigstoreTests",
            dependencies: ["SignetSigstore", "SignetCrypto", "SignetTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetTUFTests",
            dependencies: ["SignetTUF", "SignetTrustRoot", "SignetSigstore", "SignetCrypto", "SignetTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetNotaryTests",
            dependencies: ["SignetNotary", "SignetTUF", "SignetVerify", "SignetPolicy", "SignetRegistry", "SignetCrypto", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetKubeTests",
            dependencies: ["SignetKube", "SignetPolicy", "SignetAdmission", "SignetSigstore", "SignetCrypto", "SignetNotation", "SignetCLI", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetContinuousTests",
            dependencies: ["SignetContinuous", "SignetAdmission", "SignetPolicy", "SignetKube", "SignetTestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetHistoryTests",
            dependencies: ["SignetHistory", "SignetTestSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetConsoleTests",
            dependencies: [
                "SignetConsole", "SignetHistory", "SignetHTTP", "SignetKube", "SignetPolicy", "SignetVerify", "SignetRegistry",
                "SignetTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignetServerTests",
            dependencies: ["SignetCLI", "SignetConsole", "SignetHTTP", "SignetHistory", "SignetAdmission", "SignetKube", "SignetPolicy", "SignetTestSupport"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

var strictSettings: [SwiftSetting] {
    [.enableUpcomingFeature("ExistentialAny")]
}
