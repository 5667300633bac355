// swift-tools-version:6.1
// libFuzzer targets for signet's parsers (RELIABILITY.md, `make harden`). Built on its own, with
// its own scratch path, so the fuzzer and sanitizer flags stay out of the normal build:
//   swift build --package-path Fuzz --scratch-path .build-fuzz --sanitize=fuzzer \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// (`make harden` does this; see scripts/harden/fuzz.py.)
// One binary, the target chosen by SIGNET_FUZZ_TARGET (see FuzzTarget.swift).
import Foundation
import PackageDescription

// A package found by path is known by its folder's name (the clone's or worktree's).
let signetIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "signet-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "signet-fuzz",
            dependencies: [.product(name: "SignetParsers", package: signetIdentity)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
