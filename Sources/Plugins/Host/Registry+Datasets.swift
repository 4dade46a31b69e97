extension Registry {
    /// Built-in dataset providers.
    static var builtinDatasets: [any DatasetProvider] {
        [FashionMNISTProvider(), An8FlowerProvider(), ShapesLocProvider(), ImageFolderProvider()]
    }
}
