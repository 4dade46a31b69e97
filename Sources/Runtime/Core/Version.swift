/// The product version, shown by `--version`, reports and notebooks.
public let saliencyVersion = "0.1.0"
