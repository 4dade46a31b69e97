extension Registry {
    /// Built-in explanation methods, in the order `:methods` lists them.
    static var builtinExplainers: [any Explainer] { [] }
}
