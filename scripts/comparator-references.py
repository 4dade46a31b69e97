#!/usr/bin/env python3
"""Reference numbers for the comparator explainers (issue 25), from Captum and pytorch-grad-cam.

Run by hand; the Swift tests read the tables this prints (pasted into
Tests/PluginTests/ComparatorReferences.swift), so CI needs no torch.

    pip install torch==2.13.0+cpu captum==0.9.0 grad-cam==1.5.7 scikit-learn
    python3 scripts/comparator-references.py attributions     # DeepLift, LRP, GradCAMPlusPlus
    python3 scripts/comparator-references.py surrogates DIR   # Lime, KernelShap on our masks (see surrogates())

The networks are the shipped ONNX files in models/, rebuilt as torch modules node by node (one
module per ONNX node, so every ReLU is its own module as Captum's DeepLift and LRP require, and
residual sums are Captum's `Addition_Module`). Inputs come from the sin formula that
`TinyNets.formula` computes in Swift (float64, rounded to float32).

pytorch-grad-cam imports torchvision only for image helpers we do not call, and torchvision's
PyPI wheel does not load against the CPU torch wheel, so a stub stands in for it.
"""
import sys
import types

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import helper, numpy_helper

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)

ROOT = __file__.rsplit("/scripts/", 1)[0]
NETS = {  # file, input shape, target class
    "lenet": ("lenet-fmnist.onnx", (1, 28, 28), 1),
    "vgg": ("vgg-an8flower-single6c.onnx", (3, 64, 64), 1),
    "resnet": ("resnet-shapes.onnx", (3, 64, 64), 1),
}
PICKS = [0, 17, 100, 255, 431, 500, 700, 863, 1500, 2900, 4321, 9999]


def formula(n, a, b, s):
    return torch.tensor((np.sin(np.arange(n) * a + b) * s).astype(np.float32))


def images(shape, n=2):
    return (0.5 + formula(n * int(np.prod(shape)), 0.37, 0.0, 0.5)).reshape((n,) + shape)


def baseline_tensor(shape):
    """The non-zero baseline of the DeepLIFT checks: one image, broadcast over the batch."""
    return (0.5 + formula(int(np.prod(shape)), 0.11, 0.3, 0.25)).reshape((1,) + shape)


class OnnxNet(nn.Module):
    """An ONNX graph of Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool, Flatten,
    Gemm and Add nodes as one torch module per node."""

    def __init__(self, path):
        super().__init__()
        from captum.attr._utils.custom_modules import Addition_Module
        g = onnx.load(path).graph
        w = {i.name: torch.tensor(numpy_helper.to_array(i).copy()) for i in g.initializer}
        self.layers = nn.ModuleDict()
        self.steps, self.by_value = [], {}
        for n in g.node:
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            key = n.name.replace(".", "_")
            ins = [n.input[0]]
            if n.op_type == "Conv":
                wt = w[n.input[1]]
                p = a.get("pads", [0, 0, 0, 0])
                assert p[0] == p[2] and p[1] == p[3]
                m = nn.Conv2d(wt.shape[1], wt.shape[0], tuple(wt.shape[2:]), stride=tuple(a.get("strides", [1, 1])),
                              padding=(p[0], p[1]), bias=len(n.input) > 2)
                m.weight.data.copy_(wt)
                if len(n.input) > 2:
                    m.bias.data.copy_(w[n.input[2]])
            elif n.op_type == "BatchNormalization":
                m = nn.BatchNorm2d(w[n.input[1]].numel(), eps=a.get("epsilon", 1e-5))
                for attr, i in [("weight", 1), ("bias", 2), ("running_mean", 3), ("running_var", 4)]:
                    getattr(m, attr).data.copy_(w[n.input[i]])
            elif n.op_type == "Relu":
                m = nn.ReLU()
            elif n.op_type == "MaxPool":
                p = a.get("pads", [0, 0, 0, 0])
                m = nn.MaxPool2d(tuple(a["kernel_shape"]), stride=tuple(a.get("strides", a["kernel_shape"])), padding=(p[0], p[1]))
            elif n.op_type == "GlobalAveragePool":
                m = nn.AdaptiveAvgPool2d(1)
            elif n.op_type == "Flatten":
                m = None  # functional: Captum's LRP wants a rule for every leaf module
            elif n.op_type == "Gemm":
                b = w[n.input[1]] if a.get("transB", 0) == 1 else w[n.input[1]].t()
                m = nn.Linear(b.shape[1], b.shape[0], bias=len(n.input) > 2)
                m.weight.data.copy_(b)
                if len(n.input) > 2:
                    m.bias.data.copy_(w[n.input[2]])
            elif n.op_type == "Add":
                m = Addition_Module()
                ins = list(n.input)
            else:
                raise ValueError(n.op_type)
            if m is not None:
                self.layers[key] = m
                self.by_value[n.output[0]] = m
            self.steps.append((key if m is not None else None, ins, n.output[0]))
        self.output = g.output[0].name
        self.eval()

    def forward(self, x):
        v = {"input": x}
        for key, ins, out in self.steps:
            v[out] = torch.flatten(v[ins[0]], 1) if key is None else self.layers[key](*[v[i] for i in ins])
        return v[self.output]


def summary(name, t):
    v = t.detach().double().flatten()
    picks = ", ".join(f"{float(v[i % v.numel()]):.8g}" for i in PICKS)
    print(f'        "{name}": .init({v.numel()}, {float(v.sum()):.8g}, {float(v.abs().sum()):.8g}, {float(v.abs().max()):.8g}, [{picks}]),')


def default_layer(net_name):
    """`defaultConvBlockLayer` of each shipped net (the last conv block's post-ReLU output)."""
    return {"lenet": "relu_conv2", "vgg": "block3.relu2", "resnet": "layer3.0.relu2"}[net_name]


def gradcam_pp(net, layer_value, x, t):
    class Stub(types.ModuleType):
        __path__ = []

        def __getattr__(self, name):
            return object

    for mod in ["torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops"]:
        sys.modules.setdefault(mod, Stub(mod))
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    cam = GradCAMPlusPlus(model=net, target_layers=[net.by_value[layer_value]])
    targets = [ClassifierOutputTarget(t)] * x.shape[0]
    out = cam.activations_and_grads(x)
    net.zero_grad()
    sum(tg(o) for tg, o in zip(targets, out)).backward(retain_graph=True)
    acts = cam.activations_and_grads.activations[0].numpy()
    grads = cam.activations_and_grads.gradients[0].numpy()
    low = np.maximum(cam.get_cam_image(x, net.by_value[layer_value], targets, acts, grads), 0)
    # pytorch-grad-cam then min-max normalises and resizes with cv2; we keep the raw scale
    # and upsample as our Grad-CAM does (bilinear, align_corners=False).
    low = torch.tensor(low).unsqueeze(1)
    return torch.nn.functional.interpolate(low, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)


def attributions():
    from captum.attr import LRP, DeepLift
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule
    for net_name, (file, shape, t) in NETS.items():
        x = images(shape)
        print(f"        // {net_name}: {file}, target {t}")
        net = OnnxNet(f"{ROOT}/models/{file}")
        # Captum's DeepLift gives max pooling its gradient in effect (see DeepLIFTMaxPool.gradient).
        summary(f"{net_name}/deeplift", DeepLift(net).attribute(x, target=t))
        net = OnnxNet(f"{ROOT}/models/{file}")
        base = baseline_tensor(shape).expand_as(x).contiguous()
        summary(f"{net_name}/deeplift_tensor", DeepLift(net).attribute(x, baselines=base, target=t))
        net = OnnxNet(f"{ROOT}/models/{file}")
        summary(f"{net_name}/epsilon_lrp", LRP(net).attribute(x, target=t))
        net = OnnxNet(f"{ROOT}/models/{file}")
        for m in net.layers.values():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.rule = Alpha1_Beta0_Rule()
            elif not isinstance(m, (nn.ReLU,)):
                m.rule = EpsilonRule()
        summary(f"{net_name}/epsilon_lrp_z_plus", LRP(net).attribute(x, target=t))
        net = OnnxNet(f"{ROOT}/models/{file}")
        summary(f"{net_name}/gradcam_pp", gradcam_pp(net, default_layer(net_name), x, t))


def surrogates(folder):
    """Captum's Lime and KernelShap fed our superpixels, masks and 'off' image (NPY files that
    `ComparatorReferenceTests.surrogatesAgreeWithCaptumOnTheSameMasks` writes to
    $TMPDIR/saliency-comparators/ each time it runs), so only the regression and the
    model evaluations are theirs: the fitted weights must then agree."""
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import KernelShap, Lime
    for net_name in ["lenet", "vgg"]:
        file, shape, t = NETS[net_name]
        x = torch.tensor(np.load(f"{folder}/{net_name}_image.npy"))
        for method in ["lime", "kernel_shap"]:
            masks = torch.tensor(np.load(f"{folder}/{net_name}_{method}_masks.npy")).long()
            labels = torch.tensor(np.load(f"{folder}/{net_name}_{method}_labels.npy")).long()
            fill = torch.tensor(np.load(f"{folder}/{net_name}_{method}_fill.npy")).unsqueeze(0)
            m = masks.shape[1]

            def ours(original_input, **kwargs):
                for row in masks:
                    yield row.unsqueeze(0)

            net = OnnxNet(f"{ROOT}/models/{file}")
            if method == "lime":
                def kernel(_, __, z, **kwargs):  # LIME's sqrt(exp(-d^2 / 0.25^2)), d the cosine distance to all ones
                    k = float(z.sum())
                    d = 1.0 if k == 0 else 1 - k / np.sqrt(k * m)
                    return torch.tensor(np.sqrt(np.exp(-d * d / 0.25 ** 2)))
                explainer = Lime(net, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=kernel, perturb_func=ours)
            else:
                explainer = KernelShap(net)
                explainer.perturb_func = ours
            w = explainer.attribute(x, target=t, baselines=fill, feature_mask=labels.reshape(1, 1, *labels.shape),
                                    n_samples=masks.shape[0], perturbations_per_eval=64, return_input_shape=False)
            values = ", ".join(f"{float(v):.8g}" for v in w.flatten())
            print(f'        "{net_name}/{method}": [{values}],')


if __name__ == "__main__":
    if sys.argv[1:2] == ["attributions"]:
        attributions()
    elif sys.argv[1:2] == ["surrogates"] and len(sys.argv) == 3:
        surrogates(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
