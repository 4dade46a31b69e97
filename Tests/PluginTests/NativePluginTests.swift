import Foundation
import Testing
@testable import Plugins
import Runtime

/// The repository root (Tests/PluginTests/ is two levels below it).
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs a program; returns its exit status and combined output.
@discardableResult
func runTool(_ args: [String], in directory: String? = nil) throws -> (code: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// examples/swift-plugin, built once per test process into .build/swift-plugin (a second
/// run of the suite is an incremental no-op build). The package has no dependencies, so no
/// network is needed.
enum ExampleSwiftPlugin {
    static let built: Result<String, PluginError> = {
        let scratch = root + "/.build/swift-plugin"
        do {
            let r = try runTool(["swift", "build", "-c", "debug", "--package-path", root + "/examples/swift-plugin", "--scratch-path", scratch])
            guard r.code == 0 else { return .failure(.invalid("building examples/swift-plugin failed:\n\(r.output)")) }
        } catch {
            return .failure(.invalid("cannot run swift build: \(error)"))
        }
        #if os(macOS)
        return .success(scratch + "/debug/libSmoothGradSquared.dylib")
        #else
        return .success(scratch + "/debug/libSmoothGradSquared.so")
        #endif
    }()
    static func path() throws -> String { try built.get() }
}

/// Compiles the C probe plugin below (with -D variants) into a shared library.
func buildProbe(_ name: String, defines: [String] = [], source: String = probeSource) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("native-plugin-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let c = dir + "/\(name).c", lib = dir + "/lib\(name).so"
    try source.write(toFile: c, atomically: true, encoding: .utf8)
    let r = try runTool(["cc", "-shared", "-fPIC", "-O1", "-I", root + "/Sources/CSaliencyPlugin/include"] + defines.map { "-D" + $0 } + ["-o", lib, c])
    guard r.code == 0 else { throw PluginError.invalid("cc failed: \(r.output)") }
    return lib
}

/// A C plugin that exercises every host callback and writes what it saw into the map:
/// per image, out[0] = class count, out[1] = forward logit at the target, out[2] = the
/// gradient call's score, out[3] = sum(layer_grad * activation), out[4] = a uniform draw,
/// out[5] = a normal draw, out[6] = the `factor` parameter, out[7] = sum of the input
/// gradient, out[8] = 1 when the `flag` parameter is set. Modes make it fail on purpose.
/// Variants by -D: ABI (descriptor version), NAME, PARAM3 / DEFAULT3 (third parameter), TWICE,
/// REFUSE.
let probeSource = #"""
#include <saliency_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef ABI
#define ABI SAL_PLUGIN_ABI_VERSION
#endif
#ifndef NAME
#define NAME "probe"
#endif
#ifndef PARAM3
#define PARAM3 "factor"
#endif
#ifndef DEFAULT3
#define DEFAULT3 2.5
#endif

static int32_t probe(const SalHostAPI *host, SalContext *ctx, SalExplainCall *call) {
    const char *mode = call->params[0].string;
    const char *layer = call->params[1].is_set ? call->params[1].string : NULL;
    double factor = call->params[2].number;
    int flag = call->params[3].number != 0;
    int64_t n = call->images.shape[0], c = call->images.shape[1], h = call->images.shape[2], w = call->images.shape[3];
    int64_t per = c * h * w;
    if (strcmp(mode, "fail") == 0) {
        snprintf(call->error, (size_t)call->error_capacity, "probe refused: factor %g", factor);
        return SAL_ERR_PLUGIN;
    }
    if (strcmp(mode, "silent") == 0) return SAL_ERR_PLUGIN;
    if (strcmp(mode, "badshape") == 0) {
        SalTensor in = call->images;
        in.shape[1] = c + 1;
        float logits[10];
        SalTensor out = { logits, 2, { 1, 10 } };
        int32_t s = host->forward(ctx, &in, &out);
        if (s != SAL_OK && strstr(host->last_error(ctx), "forward's input") == NULL) return SAL_ERR_PLUGIN;
        return s;
    }
    if (strcmp(mode, "cancel") == 0) return host->is_cancelled(ctx) ? SAL_ERR_CANCELLED : SAL_OK;
    int64_t classes = 0;
    int32_t s = host->class_count(ctx, &classes);
    if (s) return s;
    float *logits = malloc(sizeof(float) * n * classes), *grad = malloc(sizeof(float) * n * per), *scores = malloc(sizeof(float) * n);
    float *lg = NULL, *act = NULL;
    SalTensor lt = { logits, 2, { n, classes } }, gt = call->images, ls = { 0 }, lgt, at;
    gt.data = grad;
    int64_t lcount = 0;
    s = host->forward(ctx, &call->images, &lt);
    if (!s && layer) {
        s = host->layer_shape(ctx, layer, n, &ls);
        if (!s) {
            lcount = 1;
            for (int r = 0; r < ls.rank; r++) lcount *= ls.shape[r];
            lg = malloc(sizeof(float) * lcount);
            act = malloc(sizeof(float) * lcount);
        }
    }
    lgt = ls; lgt.data = lg; at = ls; at.data = act;
    if (!s) s = host->gradient(ctx, &call->images, call->targets, &gt, layer, layer ? &lgt : NULL, layer ? &at : NULL, scores);
    float u[2], z[2];
    if (!s) s = host->random_uniform(ctx, u, 2);
    if (!s) s = host->random_normal(ctx, z, 2);
    if (!s) {
        host->progress(ctx, 1, 1);
        for (int64_t i = 0; i < n; i++) {
            float *o = call->output.data + i * h * w;
            double dot = 0, gsum = 0;
            int64_t pl = lcount / n;
            for (int64_t e = 0; e < pl; e++) dot += (double)lg[i * pl + e] * act[i * pl + e];
            for (int64_t e = 0; e < per; e++) gsum += grad[i * per + e];
            o[0] = (float)classes; o[1] = logits[i * classes + call->targets[i]]; o[2] = scores[i]; o[3] = (float)dot;
            o[4] = u[0]; o[5] = z[1]; o[6] = (float)factor; o[7] = (float)gsum; o[8] = (float)flag;
        }
    }
    free(logits); free(grad); free(scores); free(lg); free(act);
    return s;
}

int32_t saliency_plugin_register(const SalHostAPI *host, SalRegistrar *reg) {
#ifdef REFUSE
    return SAL_ERR_PLUGIN;
#endif
    SalParamSpec params[4] = {
        { "mode", SAL_PARAM_STRING, 1, 0, "probe", 0, 0, 0, "what to do" },
        { "layer", SAL_PARAM_LAYER, 0, 0, NULL, 0, 0, 0, "layer to probe" },
        { PARAM3, SAL_PARAM_NUMBER, 1, DEFAULT3, NULL, 1, 0, 10, "a number" },
        { "flag", SAL_PARAM_BOOL, 1, 0, NULL, 0, 0, 0, "a switch" },
    };
    SalExplainer e = { ABI, SAL_CAP_NEEDS_GRADIENTS, NAME, "probes the host API", "none", params, 4, probe, NULL };
    int32_t s = reg->add_explainer(reg, &e);
#ifdef TWICE
    if (s == SAL_OK) s = reg->add_explainer(reg, &e);
#endif
    return s;
}
"""#

/// Collects progress reports (the callback is @Sendable).
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [[Int]] = []
    func add(_ done: Int, _ total: Int) { lock.withLock { items.append([done, total]) } }
    var all: [[Int]] { lock.withLock { items } }
}

private func lenet() throws -> Graph { try loadONNX(path: root + "/models/lenet-fmnist.onnx") }

private func images(_ n: Int, seed: UInt64) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform([n, 1, 28, 28], rng: &rng)
}

private func loadError(_ path: String, into registry: Registry = Registry()) -> String {
    do { try NativePlugin.load(path, into: registry); return "loaded" } catch { return "\(error)" }
}

@Suite("Native (compiled) plugins", .serialized)
struct NativePluginTests {
    @Test func exampleHeaderIsByteIdenticalToOurs() throws {
        let ours = try Data(contentsOf: URL(fileURLWithPath: root + "/Sources/CSaliencyPlugin/include/saliency_plugin.h"))
        let copy = try Data(contentsOf: URL(fileURLWithPath: root + "/examples/swift-plugin/Sources/CSaliencyPlugin/include/saliency_plugin.h"))
        #expect(ours == copy, "examples/swift-plugin must carry the same saliency_plugin.h as Sources/CSaliencyPlugin")
    }

    /// SmoothGrad-squared from the Swift example equals the same computation written out
    /// in Swift with the host's own gradient and the same seeded noise stream.
    @Test func swiftExampleMatchesAStraightforwardComputation() throws {
        let registry = Registry()
        #expect(try NativePlugin.load(try ExampleSwiftPlugin.path(), into: registry) == ["smoothgrad_sq"])
        let method = try registry.explainer("smoothgrad_sq")
        #expect(method.parameters.map(\.signature) == ["samples: int = 16 in 1...100000", "noise: float = 0.15 in 0...10", "batch_size: int = 32 in 1...4096"])
        #expect(method.capabilities == [.needsGradients, .batched, .stochastic])
        let g = try lenet()
        let x = images(3, seed: 5)
        let (samples, noise, seed): (Int, Float, UInt64) = (5, 0.15, 11)
        let map = try explain(method, model: g, images: x, params: ["samples": .int(samples), "batch_size": .int(4)], seed: seed)
        #expect(map.method == "smoothgrad_sq" && map.map.shape == [3, 1, 28, 28])

        // Reference: copy-major noisy copies, one at a time, squared gradients, mean.
        let targets = try resolveTargets(.predicted, model: g, images: x)
        var rng = RandomGenerator(seed: seed)
        let per = 28 * 28
        var sumSq = [Float](repeating: 0, count: 3 * per)
        let xs = x.scalars
        for _ in 0..<samples {
            for i in 0..<3 {
                let img = Array(xs[i * per..<(i + 1) * per])
                let sigma = noise * (img.max()! - img.min()!)
                let noisy = Tensor(shape: [1, 1, 28, 28], data: img.map { $0 + sigma * rng.nextNormal() }).requiringGrad()
                var onehot = [Float](repeating: 0, count: 10)
                onehot[targets[i]] = 1
                let grad = gradient(of: (try g(noisy) * Tensor(shape: [1, 10], data: onehot)).sum(), wrt: noisy).scalars
                for e in 0..<per { sumSq[i * per + e] += grad[e] * grad[e] }
            }
        }
        let expected = sumSq.map { $0 / Float(samples) }
        let got = map.map.scalars
        let scale = expected.max()!
        #expect(scale > 0)
        let worst = zip(got, expected).map { Swift.abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "max difference \(worst) vs scale \(scale)")

        // The noise stream does not depend on the batch size; another seed changes the map.
        // Progress arrives once per gradient call (15 noisy copies in one batch: one call).
        let reports = ProgressLog()
        let again = try explain(method, model: g, images: x, params: ["samples": .int(samples), "batch_size": .int(15)], seed: seed,
                                progress: { done, total in reports.add(done, total) })
        #expect(reports.all == [[1, 1]])
        #expect(zip(again.map.scalars, got).allSatisfy { Swift.abs($0 - $1) <= 1e-5 * scale })
        let other = try explain(method, model: g, images: x, params: ["samples": .int(samples)], seed: seed + 1)
        #expect(other.map.scalars != got)
        // The host validates parameters before the plugin runs.
        #expect(throws: PluginError.outOfRange(plugin: "smoothgrad_sq", name: "samples", value: "0", range: "1...100000")) {
            try explain(method, model: g, images: x, params: ["samples": .int(0)])
        }
    }

    @Test func everyHostCallbackReturnsWhatTheHostComputes() throws {
        let registry = Registry()
        #expect(try NativePlugin.load(try buildProbe("probe"), into: registry) == ["probe"])
        let probe = try registry.explainer("probe")
        #expect(probe.parameters.map(\.signature) == ["mode: string = \"probe\"", "layer: layer", "factor: float = 2.5 in 0...10", "flag: bool = false"])
        let g = try lenet()
        let x = images(2, seed: 9)
        for score in [ScoreKind.logit, .logprob] {
            let m = try explain(probe, model: g, images: x, target: .index(3), params: ["layer": .string("conv2"), "factor": .int(4), "flag": .bool(true)],
                                score: score, seed: 21)
            let out = m.map.scalars
            var ctx = ExplainContext(model: g, images: x, targets: [3, 3], params: Params(), score: score, rng: RandomGenerator(seed: 21))
            let logits = try g(x)
            let xi = x.requiringGrad()
            let r = try g.forward(xi, options: ForwardOptions(capture: ["conv2"]))
            let act = r.captured["conv2"]!
            let grads = gradients(of: ctx.targetScore(r.output), wrt: [xi, act])
            let scores = ctx.targetScores(r.output)
            let u = ctx.rng.nextUniform()
            _ = ctx.rng.nextUniform(); _ = ctx.rng.nextNormal()
            let z = ctx.rng.nextNormal()
            for i in 0..<2 {
                let o = Array(out[i * 784..<i * 784 + 9])
                let per = act.count / 2
                let dot = (0..<per).reduce(0.0) { $0 + Double(grads[1].scalars[i * per + $1]) * Double(act.scalars[i * per + $1]) }
                let gsum = grads[0].scalars[i * 784..<(i + 1) * 784].reduce(0.0) { $0 + Double($1) }
                #expect(o[0] == 10)
                // The plugin's forward callback and ours run the same kernels, possibly on
                // another batch split: equal to float rounding of logits of size ~1.
                #expect(Swift.abs(o[1] - logits[flat: i * 10 + 3]) <= 1e-6 * Swift.max(1, Swift.abs(logits[flat: i * 10 + 3])))
                #expect(Swift.abs(o[2] - scores[i]) <= 1e-6 * Swift.max(1, Swift.abs(scores[i])))
                #expect(Swift.abs(Double(o[3]) - dot) <= 1e-4 * Swift.max(1, Swift.abs(dot)), "\(o[3]) vs \(dot)")
                #expect(o[4] == u && o[5] == z)
                #expect(o[6] == 4 && o[8] == 1)
                #expect(Swift.abs(Double(o[7]) - gsum) <= 1e-4 * Swift.max(1, Swift.abs(gsum)))
            }
        }
    }

    @Test func pluginAndHostFailuresAreReportedWithTheirMessages() throws {
        let registry = Registry()
        try NativePlugin.load(try buildProbe("probe"), into: registry)
        let probe = try registry.explainer("probe")
        let g = try lenet(), x = images(1, seed: 1)
        func failure(_ params: [String: ParamValue], cancel: Bool = false) -> String {
            let token = CancellationToken()
            if cancel { token.cancel() }
            do { _ = try explain(probe, model: g, images: x, params: params, cancellation: token); return "ok" } catch { return "\(error)" }
        }
        #expect(failure(["mode": .string("fail"), "factor": .float(1.5)]) == "method 'probe' failed: probe refused: factor 1.5")
        #expect(failure(["mode": .string("silent")]) == "method 'probe' failed: status 4 (SAL_ERR_PLUGIN)")
        #expect(failure(["mode": .string("badshape")])
                == "method 'probe' failed in a host call: forward's input has shape [1, 2, 28, 28]; expected [M, 1, 28, 28] with M >= 1")
        #expect(failure(["layer": .string("conv9")]) == "method 'probe' failed in a host call: unknown layer 'conv9'; did you mean 'conv1'?")
        #expect(failure(["mode": .string("cancel")], cancel: true) == "cancelled")
        #expect(failure(["factor": .float(11)]) == "parameter 'factor' of 'probe' is 11.0, outside 0...10")
    }

    @Test func loadErrorsSayWhatIsWrong() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("native-plugin-errors-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(loadError(dir + "/missing.so") == "cannot load plugin '\(dir)/missing.so': no such file")
        #expect(loadError(dir) == "cannot load plugin '\(dir)': is a directory, expected a file")
        let text = dir + "/notes.so"
        try String(repeating: "not a library\n", count: 40).write(toFile: text, atomically: true, encoding: .utf8)
        #expect(loadError(text) == "cannot load plugin '\(text)': not a loadable shared library (\(text): invalid ELF header)")
        let plain = try buildProbe("plain", source: "int answer(void) { return 42; }\n")
        #expect(loadError(plain) == "cannot load plugin '\(plain)': it does not export 'saliency_plugin_register' (the entry point of saliency_plugin.h), so it is not a saliency plugin")
        let future = try buildProbe("future", defines: ["ABI=99u"])
        #expect(loadError(future) == "cannot load plugin '\(future)': it was built against plugin ABI version 99, but this saliency-repl speaks version 1; rebuild it with this release's saliency_plugin.h")
        let refuse = try buildProbe("refuse", defines: ["REFUSE"])
        #expect(loadError(refuse) == "cannot load plugin '\(refuse)': saliency_plugin_register returned status 4 (SAL_ERR_PLUGIN)")
        let badName = try buildProbe("badname", defines: ["NAME=\"bad name\""])
        #expect(loadError(badName) == "cannot load plugin '\(badName)': method name 'bad name' is invalid (letters, digits, _ and -, starting with a letter, at most 64 bytes)")
        let twice = try buildProbe("twice", defines: ["TWICE"])
        #expect(loadError(twice) == "cannot load plugin '\(twice)': it registers method 'probe' twice")
        let reserved = try buildProbe("reserved", defines: ["PARAM3=\"seed\""])
        #expect(loadError(reserved) == "cannot load plugin '\(reserved)': method 'probe': parameter 'seed' uses a reserved name (label, method, model, score, seed, target, x are the explain call's own arguments)")
        let badDefault = try buildProbe("baddefault", defines: ["DEFAULT3=20"])
        #expect(loadError(badDefault) == "cannot load plugin '\(badDefault)': method 'probe': parameter 'factor' has an invalid default: parameter 'factor' of 'probe' is 20.0, outside 0...10")
        // A failed load registers nothing.
        let registry = Registry()
        _ = loadError(twice, into: registry)
        #expect((try? registry.explainer("probe")) == nil)
    }

    @Test func methodNamesCannotBeTakenTwiceButReloadingIsANoOp() throws {
        let lib = try buildProbe("probe")
        let registry = Registry()
        #expect(try NativePlugin.load(lib, into: registry) == ["probe"])
        #expect(try NativePlugin.load(lib, into: registry) == ["probe"])
        let renamed = try buildProbe("gradient", defines: ["NAME=\"gradient\""])
        #expect(loadError(renamed, into: registry) == "cannot load plugin '\(renamed)': method 'gradient' is already registered (a built-in or script method); rename the plugin's method")
        let copy = try buildProbe("probe-copy")
        #expect(loadError(copy, into: registry).hasPrefix("cannot load plugin '\(copy)': method 'probe' is already registered by plugin '"))
        #expect(try registry.explainer("gradient") is GradientExplainer)
    }
}
