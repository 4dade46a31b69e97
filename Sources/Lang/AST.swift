/// Where a piece of source text sits: every AST node and every diagnostic carries one, so
/// errors from the parser, the interpreter and the plugins all point at `file:line:col`.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based.
    public var line: Int
    /// 1-based, counted in characters (not bytes) so the caret lines up under the text.
    public var column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    public var description: String { "\(file):\(line):\(column)" }
}

public enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", mod = "%"
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case and, or
}

public enum UnaryOp: String, Sendable { case neg = "-", not }

/// A call argument: positional (`label == nil`) or named (`top: 5`).
public struct Argument: Sendable {
    public var label: String?
    public var value: Expr
    public var loc: SourceLocation
}

public indirect enum ExprKind: Sendable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case name(String)
    case list([Expr])
    /// Fields in source order (records print in the order they were written).
    case record([(String, Expr)])
    case unary(UnaryOp, Expr)
    case binary(BinaryOp, Expr, Expr)
    /// `a..<b`: a half-open range of integers, materialised as a list.
    case range(Expr, Expr)
    /// `f(a, b, name: c)`; `x |> f(y)` is parsed into `f(x, y)` with `piped` set so errors
    /// can say where the value came from.
    case call(Expr, [Argument])
    case member(Expr, String)
    case index(Expr, Expr)
}

public struct Expr: Sendable {
    public let kind: ExprKind
    public var loc: SourceLocation
    /// Levels of the tree from here down (a literal is 1). The parser refuses trees taller
    /// than `Parser.maxHeight`: everything that walks them (the resolver, the interpreter,
    /// freeing them) recurses once per level.
    public let height: Int
    public init(_ kind: ExprKind, _ loc: SourceLocation) {
        self.kind = kind; self.loc = loc
        var below = 0
        switch kind {
        case .number, .string, .bool, .name: break
        case let .list(items): below = items.reduce(0) { Swift.max($0, $1.height) }
        case let .record(fields): below = fields.reduce(0) { Swift.max($0, $1.1.height) }
        case let .unary(_, x): below = x.height
        case let .binary(_, a, b), let .range(a, b), let .index(a, b): below = Swift.max(a.height, b.height)
        case let .call(f, args): below = args.reduce(f.height) { Swift.max($0, $1.value.height) }
        case let .member(b, _): below = b.height
        }
        height = below + 1
    }
}

/// A function parameter; a default makes it optional and lets callers name it.
public struct Parameter: Sendable {
    public var name: String
    public var defaultValue: Expr?
    public var loc: SourceLocation
}

public struct FunctionDecl: Sendable {
    public var name: String
    public var parameters: [Parameter]
    public var body: [Stmt]
    public var loc: SourceLocation
}

public indirect enum StmtKind: Sendable {
    case letBinding(String, Expr)
    /// `target = value` where target is a name, `a.b` or `a[i]`.
    case assign(Expr, Expr)
    case expression(Expr)
    case forIn(String, Expr, [Stmt])
    case ifElse(Expr, [Stmt], [Stmt]?)
    case function(FunctionDecl)
    case returnValue(Expr?)
}

public struct Stmt: Sendable {
    public var kind: StmtKind
    public var loc: SourceLocation
    public init(_ kind: StmtKind, _ loc: SourceLocation) { self.kind = kind; self.loc = loc }
}

/// A parsed script or REPL cell, with its source text kept for diagnostics.
public struct Program: Sendable {
    public var statements: [Stmt]
    public var source: SourceText
}
