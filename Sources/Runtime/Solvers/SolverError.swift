/// Why a solver refused its input. Thrown, never trapped: the matrices come from user data
/// (a dataset's statistics, a script's parameters), so a bad one is a message, not a crash.
public enum SolverError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Cholesky met a pivot that is not positive (or not finite): the matrix is not
    /// symmetric positive definite. `pivot` is the 0-based row, `value` what remained of
    /// its diagonal entry after the earlier rows were eliminated.
    case notPositiveDefinite(pivot: Int, value: Double)
    /// The matrix is not symmetric: entries (row, column) and (column, row) differ by more
    /// than rounding explains.
    case notSymmetric(row: Int, column: Int, upper: Double, lower: Double)
    /// Shapes that do not fit together, or a parameter outside its domain.
    case invalid(String)

    public var description: String {
        switch self {
        case let .notPositiveDefinite(pivot, value):
            return "the matrix is not symmetric positive definite: pivot \(pivot) is \(value) after elimination "
                + "(a singular or indefinite system; a ridge, e.g. rho > 0, makes a Gram matrix definite)"
        case let .notSymmetric(row, column, upper, lower):
            return "the matrix is not symmetric: entry [\(row), \(column)] is \(upper) but [\(column), \(row)] is \(lower)"
        case let .invalid(m):
            return m
        }
    }
}
