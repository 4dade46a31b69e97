// swift-tools-version: 6.0
import PackageDescription

// A saliency-repl plugin written in Swift: one dynamic library exporting
// `saliency_plugin_register` (the C ABI of saliency_plugin.h). It links nothing of
// saliency-repl: the header in Sources/CSaliencyPlugin is a byte-identical copy of the
// host's, and everything else goes through the host's callbacks at run time.
let package = Package(
    name: "swift-plugin",
    products: [
        .library(name: "SmoothGradSquared", type: .dynamic, targets: ["SmoothGradSquared"]),
    ],
    targets: [
        .systemLibrary(name: "CSaliencyPlugin", path: "Sources/CSaliencyPlugin"),
        .target(name: "SmoothGradSquared", dependencies: ["CSaliencyPlugin"]),
    ]
)
