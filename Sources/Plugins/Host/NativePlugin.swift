import CSaliencyPlugin
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Compiled plugins: shared libraries that talk to the host through the C ABI in
/// `Sources/CSaliencyPlugin/include/saliency_plugin.h` (see that header for the contract:
/// versioning, who owns which memory, threads, errors).
///
/// Why a C ABI and not Swift: the executable links Plugins and Runtime statically, so a
/// plugin linking them again would bring its own type metadata and its own `Registry`; a
/// `Tensor` or an `Explainer` could not cross the boundary. Plain C structs can.
public enum NativePlugin {
    /// The ABI version this host speaks.
    public static let abiVersion = Int(SAL_PLUGIN_ABI_VERSION)

    /// Loads the shared library at `path` and registers every explainer it declares in
    /// `registry`; returns their names in registration order.
    ///
    /// The load is all or nothing: descriptors are validated first and only then registered.
    /// Loading the same library into the same registry again is a no-op that returns the
    /// same names (a pipeline's `plugins:` may repeat a `--plugin`). A method name that is
    /// already taken by a built-in or by another plugin is refused: silently replacing
    /// `gradient` would change every result that names it. The library is never unloaded
    /// (its code may still be referenced, and Swift runtimes do not support unloading).
    @discardableResult
    public static func load(_ path: String, into registry: Registry = .shared) throws -> [String] {
        func fail(_ why: String) -> PluginError { .invalid("cannot load plugin '\(path)': \(why)") }
        // dlopen on a FIFO blocks until a writer appears: only regular files are opened.
        do { try checkRegularFile(path) } catch let e as IOError { throw fail(e.message) }
        // An absolute path: dlopen searches the library path for names without a slash.
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let canonical = absolute.withCString { p -> String in
            guard let r = realpath(p, nil) else { return absolute }
            defer { free(r) }
            return String(cString: r)
        }
        _ = dlerror()
        guard let handle = dlopen(canonical, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw fail("not a loadable shared library (\(why))")
        }
        guard let symbol = dlsym(handle, SAL_PLUGIN_ENTRY_POINT) else {
            throw fail("it does not export '\(SAL_PLUGIN_ENTRY_POINT)' (the entry point of saliency_plugin.h), so it is not a saliency plugin")
        }
        let entry = unsafeBitCast(symbol, to: SalPluginRegisterFn.self)
        let state = Registration(library: canonical)
        let status = withExtendedLifetime(state) { () -> Int32 in
            var registrar = SalRegistrar(add_explainer: { reg, descriptor in
                guard let reg, let host = reg.pointee.host_data else { return Int32(SAL_ERR_INVALID.rawValue) }
                return Unmanaged<Registration>.fromOpaque(host).takeUnretainedValue().add(descriptor)
            }, host_data: Unmanaged.passUnretained(state).toOpaque())
            return entry(hostAPITable, &registrar)
        }
        if let e = state.error { throw fail(e) }
        guard status == Int32(SAL_OK.rawValue) else {
            // Plugins answer a host of another ABI version with SAL_ERR_INVALID (the example does).
            let hint = status == Int32(SAL_ERR_INVALID.rawValue) ? "; if it was built for another plugin ABI: this saliency-repl speaks version \(SAL_PLUGIN_ABI_VERSION)" : ""
            throw fail("\(SAL_PLUGIN_ENTRY_POINT) returned status \(status) (\(statusName(status)))" + hint)
        }
        guard !state.explainers.isEmpty else { throw fail("it registered no methods") }
        var fresh: [NativeExplainer] = []
        for e in state.explainers {
            if let existing = try? registry.explainer(e.name) {
                if let n = existing as? NativeExplainer, n.library == canonical { continue }
                let owner = (existing as? NativeExplainer).map { "by plugin '\($0.library)'" } ?? "(a built-in or script method)"
                throw fail("method '\(e.name)' is already registered \(owner); rename the plugin's method")
            }
            fresh.append(e)
        }
        for e in fresh { registry.register(e) }
        return state.explainers.map(\.name)
    }

    static func statusName(_ s: Int32) -> String {
        switch s {
        case Int32(SAL_ERR_INVALID.rawValue): return "SAL_ERR_INVALID"
        case Int32(SAL_ERR_CANCELLED.rawValue): return "SAL_ERR_CANCELLED"
        case Int32(SAL_ERR_HOST.rawValue): return "SAL_ERR_HOST"
        case Int32(SAL_ERR_PLUGIN.rawValue): return "SAL_ERR_PLUGIN"
        default: return "not a SalStatus"
        }
    }

    /// Names used by the `explain` builtin's own arguments (and pipelines' `label`): a plugin
    /// parameter with one of these names could never be passed.
    static let reservedParameterNames: Set<String> = ["model", "x", "method", "target", "score", "seed", "label"]
}

/// Collects and validates the descriptors one `saliency_plugin_register` call hands over.
final class Registration {
    let library: String
    var explainers: [NativeExplainer] = []
    /// The first problem; later descriptors are refused too, so the load fails as a whole.
    var error: String?

    init(library: String) { self.library = library }

    func add(_ d: UnsafePointer<SalExplainer>?) -> Int32 {
        guard error == nil else { return Int32(SAL_ERR_INVALID.rawValue) }
        do {
            explainers.append(try describe(d))
            return Int32(SAL_OK.rawValue)
        } catch let e as PluginError {
            error = e.description
        } catch {
            self.error = "\(error)"
        }
        return Int32(SAL_ERR_INVALID.rawValue)
    }

    func describe(_ p: UnsafePointer<SalExplainer>?) throws -> NativeExplainer {
        let index = explainers.count
        guard let p else { throw PluginError.invalid("add_explainer was given a NULL descriptor (method \(index + 1))") }
        // The version is read before anything else: other versions may lay the struct out differently.
        let version = p.pointee.abi_version
        guard version == SAL_PLUGIN_ABI_VERSION else {
            throw PluginError.invalid("it was built against plugin ABI version \(version), but this saliency-repl speaks version \(SAL_PLUGIN_ABI_VERSION); rebuild it with this release's saliency_plugin.h")
        }
        let d = p.pointee
        guard let namePointer = d.name else { throw PluginError.invalid("method \(index + 1) has no name") }
        let name = String(cString: namePointer)
        guard isMethodName(name) else {
            throw PluginError.invalid("method name '\(name)' is invalid (letters, digits, _ and -, starting with a letter, at most 64 bytes)")
        }
        guard !explainers.contains(where: { $0.name == name }) else { throw PluginError.invalid("it registers method '\(name)' twice") }
        guard let explain = d.explain else { throw PluginError.invalid("method '\(name)' has no explain function") }
        let known = SAL_CAP_NEEDS_GRADIENTS | SAL_CAP_LAYER_CHOICE | SAL_CAP_BATCHED | SAL_CAP_STOCHASTIC
        guard d.capabilities & ~known == 0 else {
            throw PluginError.invalid("method '\(name)' sets unknown capability bits 0x\(String(d.capabilities & ~known, radix: 16))")
        }
        guard d.param_count >= 0, d.param_count <= 64, d.param_count == 0 || d.params != nil else {
            throw PluginError.invalid("method '\(name)' declares \(d.param_count) parameters" + (d.params == nil ? " but passes no array" : " (at most 64)"))
        }
        var specs: [ParamSpec] = [], kinds: [SalParamKind] = []
        for i in 0..<Int(d.param_count) {
            // unreachable from input: d.params is non-NULL whenever param_count > 0 (checked just above).
            let (spec, kind) = try parameter(d.params![i], index: i, method: name)
            guard !specs.contains(where: { $0.name == spec.name }) else {
                throw PluginError.invalid("method '\(name)' declares parameter '\(spec.name)' twice")
            }
            specs.append(spec); kinds.append(kind)
        }
        return NativeExplainer(name: name, summary: d.summary.map { String(cString: $0) } ?? "",
                               reference: d.reference.map { String(cString: $0) } ?? "", parameters: specs, kinds: kinds,
                               capabilities: Capabilities(rawValue: Int(d.capabilities)), library: library,
                               entry: NativeEntry(explain: explain, userData: d.user_data))
    }

    func parameter(_ s: SalParamSpec, index i: Int, method: String) throws -> (ParamSpec, SalParamKind) {
        guard let np = s.name else { throw PluginError.invalid("method '\(method)': parameter \(i + 1) has no name") }
        let name = String(cString: np)
        func bad(_ why: String) -> PluginError { .invalid("method '\(method)': parameter '\(name)' \(why)") }
        guard isIdentifier(name) else { throw bad("is not a valid name (letters, digits and _, not starting with a digit)") }
        guard !NativePlugin.reservedParameterNames.contains(name) else {
            throw bad("uses a reserved name (\(NativePlugin.reservedParameterNames.sorted().joined(separator: ", ")) are the explain call's own arguments)")
        }
        let kind = SalParamKind(rawValue: UInt32(bitPattern: s.kind))
        let type: ParamType
        switch kind {
        case SAL_PARAM_NUMBER: type = .float
        case SAL_PARAM_INT: type = .int
        case SAL_PARAM_STRING: type = .string
        case SAL_PARAM_BOOL: type = .bool
        case SAL_PARAM_LAYER: type = .layer
        default: throw bad("has unknown kind \(s.kind) (SAL_PARAM_NUMBER, _INT, _STRING, _BOOL or _LAYER)")
        }
        var range: ClosedRange<Double>?
        if s.has_range != 0 {
            guard type == .float || type == .int else { throw bad("has a range but is not a number") }
            guard s.min.isFinite, s.max.isFinite, s.min <= s.max else { throw bad("has an invalid range \(s.min)...\(s.max)") }
            range = s.min...s.max
        }
        var defaultValue: ParamValue?
        if s.has_default != 0 {
            switch kind {
            case SAL_PARAM_NUMBER: defaultValue = .float(s.default_number)
            case SAL_PARAM_INT:
                guard s.default_number == s.default_number.rounded(), Swift.abs(s.default_number) < 1e15 else {
                    throw bad("is an int but its default \(s.default_number) is not a whole number")
                }
                defaultValue = .int(Int(s.default_number))
            case SAL_PARAM_BOOL:
                guard s.default_number == 0 || s.default_number == 1 else { throw bad("is a bool but its default is \(s.default_number), not 0 or 1") }
                defaultValue = .bool(s.default_number == 1)
            default:
                guard let dp = s.default_string else { throw bad("has a default but default_string is NULL") }
                defaultValue = .string(String(cString: dp))
            }
        }
        let spec = ParamSpec(name, type, default: defaultValue, range: range, doc: s.doc.map { String(cString: $0) } ?? "")
        if let v = defaultValue {
            do { _ = try Params.check(v, spec: spec, plugin: method) } catch { throw bad("has an invalid default: \(error)") }
        }
        return (spec, kind)
    }

    func isMethodName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, u.count <= 64, isASCIILetter(f) else { return false }
        return u.allSatisfy { isASCIILetter($0) || isASCIIDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    func isIdentifier(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, isASCIILetter(f) || f == UInt8(ascii: "_") else { return false }
        return u.allSatisfy { isASCIILetter($0) || isASCIIDigit($0) || $0 == UInt8(ascii: "_") }
    }

    func isASCIILetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) }
    func isASCIIDigit(_ c: UInt8) -> Bool { (48...57).contains(c) }
}

/// The plugin's function pointer and user data. The plugin promises (saliency_plugin.h) that
/// both stay valid for the life of the process and that `explain` may be called from any
/// one thread at a time, so sharing them is safe.
struct NativeEntry: @unchecked Sendable {
    let explain: @convention(c) (UnsafePointer<SalHostAPI>?, OpaquePointer?, UnsafeMutablePointer<SalExplainCall>?) -> Int32
    let userData: UnsafeMutableRawPointer?
}

/// A method from a compiled plugin, wrapped as an ordinary `Explainer`: the host's
/// `explain(...)` validates its parameters, resolves targets and times it like any other.
public struct NativeExplainer: Explainer {
    public let name: String
    public let summary: String
    public let reference: String
    public let parameters: [ParamSpec]
    let kinds: [SalParamKind]
    public let capabilities: Capabilities
    /// The canonical path of the library that registered it.
    public let library: String
    let entry: NativeEntry

    init(name: String, summary: String, reference: String, parameters: [ParamSpec], kinds: [SalParamKind],
         capabilities: Capabilities, library: String, entry: NativeEntry) {
        self.name = name; self.summary = summary; self.reference = reference; self.parameters = parameters
        self.kinds = kinds; self.capabilities = capabilities; self.library = library; self.entry = entry
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let x = ctx.images
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let call = NativeCall(ctx)
        // Resolved parameters in spec order; strings are C copies freed after the call.
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        let values: [SalParamValue] = parameters.map { spec in
            var v = SalParamValue(is_set: 1, number: 0, string: nil)
            switch ctx.params[spec.name] {
            case let .int(i)?: v.number = Double(i)
            case let .float(f)?: v.number = f
            case let .bool(b)?: v.number = b ? 1 : 0
            case let .string(s)?:
                let c = strdup(s)!  // unreachable from input: nil only when out of memory
                strings.append(c); v.string = UnsafePointer(c)
            default: v.is_set = 0
            }
            return v
        }
        let targets = ctx.targets.map { Int32($0) }
        var output = [Float](repeating: 0, count: n * h * w)
        var message = [CChar](repeating: 0, count: 2048)
        let status = x.withUnsafeBufferPointer { xp in
            targets.withUnsafeBufferPointer { tp in
                values.withUnsafeBufferPointer { vp in
                    output.withUnsafeMutableBufferPointer { op in
                        message.withUnsafeMutableBufferPointer { mp in
                            var c = SalExplainCall(images: tensorView(UnsafeMutablePointer(mutating: xp.baseAddress), x.shape),
                                                   targets: tp.baseAddress, params: vp.baseAddress, param_count: Int32(vp.count),
                                                   output: tensorView(op.baseAddress, [n, 1, h, w]),
                                                   error: mp.baseAddress, error_capacity: Int64(mp.count - 1), user_data: entry.userData)
                            return withExtendedLifetime(call) {
                                entry.explain(hostAPITable, OpaquePointer(Unmanaged.passUnretained(call).toOpaque()), &c)
                            }
                        }
                    }
                }
            }
        }
        // The generator advanced inside the plugin: keep its state, as a built-in would.
        ctx.rng = call.ctx.rng
        if status != Int32(SAL_OK.rawValue) {
            if status == Int32(SAL_ERR_CANCELLED.rawValue) || call.cancelled || ctx.cancellation.isCancelled { throw PluginError.cancelled }
            if let e = call.firstError { throw PluginError.invalid("method '\(name)' failed in a host call: \(e)") }
            // The plugin's message up to its NUL (the last byte is never part of it).
            let bytes = message.prefix(message.count - 1).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            let text = String(decoding: bytes, as: UTF8.self)
            throw PluginError.invalid("method '\(name)' failed: " + (text.isEmpty ? "status \(status) (\(NativePlugin.statusName(status)))" : text))
        }
        try ctx.cancellation.check()
        return Explanation(map: Tensor(shape: [n, 1, h, w], data: output))
    }
}

/// A C tensor view of `shape` over `data`.
func tensorView(_ data: UnsafeMutablePointer<Float>?, _ shape: [Int]) -> SalTensor {
    var t = SalTensor()
    t.data = data
    t.rank = Int32(shape.count)
    withUnsafeMutableBytes(of: &t.shape) { raw in
        let s = raw.bindMemory(to: Int64.self)
        for (i, d) in shape.prefix(Int(SAL_MAX_RANK)).enumerated() { s[i] = Int64(d) }
    }
    return t
}

/// The shape of a C tensor view, checked (rank 1...8, dimensions >= 0, data present).
func viewShape(_ t: SalTensor, _ what: String) throws -> [Int] {
    guard t.rank >= 1, t.rank <= SAL_MAX_RANK else { throw CallbackError.invalid("\(what) has rank \(t.rank); expected 1...\(SAL_MAX_RANK)") }
    var s = t.shape
    let shape = withUnsafeBytes(of: &s) { raw in raw.bindMemory(to: Int64.self).prefix(Int(t.rank)).map { Int($0) } }
    guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else { throw CallbackError.invalid("\(what) has an invalid shape \(shape)") }
    guard t.data != nil else { throw CallbackError.invalid("\(what) has no data (NULL)") }
    return shape
}

enum CallbackError: Error, CustomStringConvertible {
    /// The plugin passed something wrong.
    case invalid(String)
    var description: String { switch self { case let .invalid(m): return m } }
}
