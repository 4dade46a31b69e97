/// Variables of one scope; function calls get a fresh scope whose parent is the scope the
/// function was defined in. Blocks of `if`/`for` share their enclosing scope's variables but
/// `let` inside them declares in a block scope (so loop bodies do not leak their temporaries).
public final class Environment {
    var values: [String: Value] = [:]
    /// Insertion order, for `:vars`.
    var order: [String] = []
    let parent: Environment?
    init(parent: Environment? = nil) { self.parent = parent }

    func lookup(_ name: String) -> Value? { values[name] ?? parent?.lookup(name) }

    func define(_ name: String, _ v: Value) {
        if values[name] == nil { order.append(name) }
        values[name] = v
    }

    /// Reassigns an existing variable in the nearest scope that has it.
    func assign(_ name: String, _ v: Value) -> Bool {
        if values[name] != nil { values[name] = v; return true }
        return parent?.assign(name, v) ?? false
    }

    /// Every visible name (for suggestions and completion).
    var allNames: [String] { Array(values.keys) + (parent?.allNames ?? []) }

    /// Names in definition order with their values (this scope only).
    public var variables: [(String, Value)] { order.compactMap { n in values[n].map { (n, $0) } } }

    func removeAll() { values = [:]; order = [] }
}
