extension Registry {
    /// Built-in metrics.
    static var builtinMetrics: [any Metric] {
        [
            DeletionMetric(), InsertionMetric(),
            MoRFMetric(), LeRFMetric(), ABPCMetric(),
            PNGSizeMetric(), MeanIntensityMetric(), SSIMMetric(), MixedResolutionMetric(),
            IoUMetric(), PointingGameMetric(), BoxLocalizationMetric(),
            SanityRandomizationMetric(), TimeMetric(),
        ]
    }
}
