extension Registry {
    /// Built-in dataset providers.
    static var builtinDatasets: [any DatasetProvider] { [] }
}
