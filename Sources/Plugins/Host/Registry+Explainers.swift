extension Registry {
    /// Built-in explanation methods, in the order `:methods` lists them.
    static var builtinExplainers: [any Explainer] {
        [
            GradientExplainer(), InputXGradientExplainer(), DeconvnetExplainer(), GuidedBackpropExplainer(),
            ActivationExplainer(), CAMExplainer(), GradCAMExplainer(), GuidedGradCAMExplainer(),
            IntegratedGradientsExplainer(), ExpectedGradientsExplainer(), SmoothGradExplainer(), VarGradExplainer(), OcclusionExplainer(), RISEExplainer(),
            // The papers' other comparators (issue 25).
            DeepLIFTExplainer(), EpsilonLRPExplainer(), ExcitationBackpropExplainer(), ExcitationBackpropExplainer(contrastive: true), GradCAMPlusPlusExplainer(),
            LIMEExplainer(), KernelSHAPExplainer(),
            // Research methods (shared/papers/).
            NoiseMaskExplainer(), VEbIExplainer(), CHIPExplainer(), NICEExplainer(), SurrogateExplainer(),
        ]
    }
}
