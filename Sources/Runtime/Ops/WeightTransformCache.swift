import Foundation

/// Transforms of frozen convolution weights (Winograd's U = G g G^T for the forward pass and
/// for the backward pass's flipped kernel), computed once per weight and reused across calls.
/// Explainers run the same frozen model hundreds of times; recomputing U every call cost more
/// than the convolution itself on ResNet-18's layer3/layer4 (16 x o x c values each time).
///
/// An entry is keyed by the address of the weight's storage and keeps that storage alive
/// (a retained copy of the array). Keeping it alive is what makes the key sound: the address
/// cannot be reused by another array while the entry exists, and any in-place write to the
/// weight (an optimizer step, `Parameter.assign`) sees the storage shared and copies it first
/// (copy-on-write), so the cached weight never changes under its transform; the writer's new
/// storage has a new address and misses. Callers only ask for weights that do not require
/// gradients (trainable weights change every step and would only churn the cache).
///
/// Bounded: least recently used entries go once the transforms exceed `budget` floats.
final class WeightTransformCache: @unchecked Sendable {
    /// 256 MB: ResNet-18's transforms for both passes at batch 1 and 16 (~200 MB) fit.
    static let shared = WeightTransformCache(budget: 64 << 20)

    struct Key: Hashable {
        let address: UInt, count: Int, kind: Int
    }
    private struct Entry {
        let weight: [Float]   // keeps the storage (and so the key's address) alive and unchanged
        let transform: [Float]
        var lastUse: UInt64
    }

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var floats = 0, clock: UInt64 = 0
    let budget: Int

    init(budget: Int) { self.budget = budget }

    /// The transform of kind `kind` of `weight` (`size` floats, filled by `make` on a miss).
    func transform(of weight: Tensor, kind: Int, size: Int,
                   make: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        let storage = weight.scalars
        let key = Self.key(weight, kind: kind)
        lock.lock()
        clock += 1
        if var hit = entries[key] {
            hit.lastUse = clock
            entries[key] = hit
            lock.unlock()
            return hit.transform
        }
        lock.unlock()
        let t = storage.withUnsafeBufferPointer { w in
            [Float](unsafeUninitializedCapacity: size) { buf, n in
                make(w.baseAddress!, buf.baseAddress!)
                n = size
            }
        }
        guard size <= budget / 2 else { return t }  // too large to keep: compute every time
        lock.lock()
        defer { lock.unlock() }
        if entries[key] == nil {
            entries[key] = Entry(weight: storage, transform: t, lastUse: clock)
            floats += size
            while floats > budget, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                floats -= oldest.value.transform.count
                entries[oldest.key] = nil
            }
        }
        return t
    }

    /// Whether a transform of kind `kind` of this very weight storage is held (tests).
    func holds(_ weight: Tensor, kind: Int) -> Bool {
        let key = Self.key(weight, kind: kind)
        lock.lock(); defer { lock.unlock() }
        return entries[key] != nil
    }

    private static func key(_ weight: Tensor, kind: Int) -> Key {
        weight.withUnsafeBufferPointer { Key(address: UInt(bitPattern: $0.baseAddress), count: $0.count, kind: kind) }
    }

    /// Number of entries and floats held (tests).
    var usage: (entries: Int, floats: Int) {
        lock.lock(); defer { lock.unlock() }
        return (entries.count, floats)
    }
}
