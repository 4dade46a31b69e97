extension Registry {
    /// Built-in explanation methods, in the order `:methods` lists them.
    static var builtinExplainers: [any Explainer] {
        [
            GradientExplainer(), InputXGradientExplainer(), DeconvnetExplainer(), GuidedBackpropExplainer(),
            ActivationExplainer(), CAMExplainer(), GradCAMExplainer(), GuidedGradCAMExplainer(),
            IntegratedGradientsExplainer(), ExpectedGradientsExplainer(), SmoothGradExplainer(), VarGradExplainer(), OcclusionExplainer(), RISEExplainer(),
            // Research methods (shared/papers/).
            NoiseMaskExplainer(), CHIPExplainer(),
        ]
    }
}
