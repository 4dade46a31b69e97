// swift-tools-version: 6.1
import Foundation
import PackageDescription

// libFuzzer targets for every parser of untrusted input (see scripts/fuzz and
// docs/reliability.md). A package of its own, built by scripts/fuzz with
//   swift build -c release --sanitize fuzzer --sanitize address \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing
// so that our modules are instrumented (coverage + AddressSanitizer; swiftc keeps only the
// last -sanitize= flag, hence the combined one) and the targets can reach internal entry
// points with @testable imports. One executable holds every target;
// SAL_FUZZ_TARGET chooses which one a run exercises (one link instead of eleven).
//
// The parent package is a path dependency; its identity is the name of its folder (the
// clone's, a worktree's), so it is read from the file system rather than written down.
let parent = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let parentIdentity = parent.lastPathComponent.lowercased()

let package = Package(
    name: "saliency-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: parent.path)],
    targets: [
        .executableTarget(
            name: "saliency-fuzz",
            dependencies: [
                .product(name: "Kernel", package: parentIdentity),
                .product(name: "Lang", package: parentIdentity),
                .product(name: "Plugins", package: parentIdentity),
                .product(name: "Runtime", package: parentIdentity),
            ],
            // libFuzzer supplies main(); the module must not define one.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
