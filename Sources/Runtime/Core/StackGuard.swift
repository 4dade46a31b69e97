import CSupport

/// How much stack the current thread has left. Tree walkers that recurse on user input (the
/// interpreter over expressions and calls) check it and stop with an error instead of
/// overflowing the stack (SIGSEGV, exit 139).
public enum StackGuard {
    /// Room kept for what runs after the check (a builtin, a plugin, the error's rendering):
    /// 512 KB, or a quarter of a small thread stack.
    public static var reserve: Int { Swift.min(512 << 10, Int(sal_stack_size()) / 4) }

    /// Bytes left below the caller's frame (Int.max when the thread's bounds are unknown).
    public static var remaining: Int { Int(clamping: sal_stack_remaining()) }

    /// True when fewer than `reserve` bytes are left.
    public static var isLow: Bool { remaining < reserve }
}
