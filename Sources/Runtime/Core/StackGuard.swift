import CSupport

/// How much stack the current thread has left. Tree walkers that recurse on user input (the
/// interpreter over expressions and calls, printing and comparing nested values) check it
/// and stop with an error instead of overflowing the stack (SIGSEGV, exit 139).
public enum StackGuard {
    /// Room kept for what runs after the check: a builtin, a plugin, the error's rendering.
    public static let reserve = 512 << 10

    /// Bytes left below the caller's frame.
    public static var remaining: Int { Int(sal_stack_remaining()) }

    /// True when fewer than `reserve` bytes are left.
    public static var isLow: Bool { remaining < reserve }
}
