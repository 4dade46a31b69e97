// swift-tools-version: 6.1
import PackageDescription

// Dependency direction (DESIGN.md): saliency-repl -> Lang -> Plugins -> Runtime -> C shims and CKernels.
let package = Package(
    name: "saliency-repl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "saliency-repl", targets: ["saliency-repl"]),
        .executable(name: "saliency-bench", targets: ["saliency-bench"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        // For Fuzz/ (the libFuzzer targets link them as a path dependency).
        .library(name: "Plugins", targets: ["Plugins"]),
        .library(name: "Lang", targets: ["Lang"]),
        .library(name: "Kernel", targets: ["Kernel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CReadline", path: "Sources/CReadline", pkgConfig: "readline",
                       providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // No pkgConfig: libzmq.pc lists the include paths of its optional transports
        // (krb5, pgm), which SwiftPM refuses with a warning on every build; zmq.h is in /usr/include.
        .systemLibrary(name: "CZMQ", path: "Sources/CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CSupport", path: "Sources/CSupport"),
        // Header-only: the C ABI of compiled plugins (examples/swift-plugin keeps a byte-identical copy).
        .systemLibrary(name: "CSaliencyPlugin", path: "Sources/CSaliencyPlugin"),
        // Our own C kernels (Sources/CKernels): the AVX-512 GEMM (chosen at run time in
        // Runtime/Core/BLAS.swift), Winograd tile transforms and stride-2 im2col (SIMDKernels).
        // Only their AVX-512 functions carry a target attribute, each behind a run-time CPU
        // check, so the binary runs on any x86-64 CPU. -O2 in debug builds too: unoptimised,
        // the GEMM tile's 28 accumulators live in memory and every test that multiplies
        // matrices would run several times slower than with OpenBLAS.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // Plain -O, not -Ounchecked: model files reach the Runtime's ops, and without checks a
        // missed validation corrupts memory instead of stopping. Measured before dropping it
        // (docs/reliability.md): ResNet-18 forward, same work, one thread, CPU time within 2%.
        .target(name: "Runtime",
                dependencies: ["COpenBLAS", "CKernels", "CPNG", "CJPEG", "CZlib", "CSupport",
                               .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "Plugins", dependencies: ["Runtime", "CSaliencyPlugin"]),
        .target(name: "Lang", dependencies: ["Plugins", "Runtime",
                                             .product(name: "Yams", package: "Yams")]),
        // The Jupyter kernel: the REPL's session behind ZeroMQ sockets.
        .target(name: "Kernel", dependencies: ["Lang", "Plugins", "Runtime", "CZMQ"]),
        .executableTarget(name: "saliency-repl",
                          dependencies: ["Lang", "Kernel", "CReadline",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "saliency-bench",
                          dependencies: ["Runtime", "Plugins",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "CKernels"]),
        .testTarget(name: "PluginTests", dependencies: ["Plugins", "Runtime"]),
        .testTarget(name: "LangTests", dependencies: ["Lang"]),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "Lang", "Runtime"]),
        // Fixtures: the python driver of the Jupyter kernel tests (jupyter_client, nbclient).
        .testTarget(name: "CLITests", dependencies: ["saliency-repl", "saliency-bench"], exclude: ["Fixtures"]),
    ]
)
