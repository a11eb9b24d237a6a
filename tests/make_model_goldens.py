#!/usr/bin/python3
"""Writes tests/fixtures/model.safetensors: each LF-Diff block as re-implemented in PyTorch in
tools/torch_lfdiff.py (from the paper, independently of the TypeScript),
with PyTorch's own random weights, an input, the output, and for DHRNet and the full model
the gradient of a weighted sum w.r.t. every parameter. Not shipped; run from the repo root:
/usr/bin/python3 tests/make_model_goldens.py"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from fixture_io import save_safetensors  # noqa: E402
from torch_lfdiff import (GDFN, MDTA, PIM, Alignment, ChannelAttention, Denoiser, DHRNet, FRM,  # noqa: E402
                          GtPriorNet, LFDiff, LPENetDM, PriorCrossAttention, ResidualBlock, TransformerBlock,
                          Vgg19Features)

torch.manual_seed(2024)
torch.set_default_dtype(torch.float64)  # references in double, stored as float32

C = dict(channels=12, blocks=[1, 2], heads=2, ffnExpansion=2.66, pimPool=4, frmPool=2, lpeBlocks=2, unshuffle=4,
         priorChannels=3, lpeChannels=10, timesteps=20, samplingSteps=4, betaStart=5e-4, betaEnd=0.1,
         unetChannels=[8, 16, 16], unetBlocks=[2, 1, 1], leakySlope=0.1, caReduction=4, upsample="bilinear",
         pimNormalize=True, endActivation="sigmoid", variant="s2")


def perturb(m):
    """PyTorch's init leaves LayerNorm at 1/0 and biases tiny; shake everything a little so
    every parameter matters to the output."""
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))


tensors, cases = {}, []


def case(name, module, inputs, call, grad=False):
    perturb(module)
    for k, v in module.state_dict().items():
        tensors[f"{name}.w.{k}"] = v
    for i, x in enumerate(inputs):
        tensors[f"{name}.in{i}"] = x
    params = list(module.parameters())
    out = call(module, *inputs)
    tensors[f"{name}.out"] = out
    if grad:
        g = torch.randn_like(out)
        tensors[f"{name}.gout"] = g
        grads = torch.autograd.grad(out, params, g)
        for (k, _), gr in zip(module.named_parameters(), grads):
            tensors[f"{name}.g.{k}"] = gr
    cases.append({"name": name, "inputs": len(inputs), "grad": grad})


ch = C["channels"]
rnd = lambda *s: torch.randn(*s)  # noqa: E731
case("residual_block", ResidualBlock(ch), [rnd(2, ch, 8, 8)], lambda m, x: m(x))
case("alignment", Alignment(6, ch, 0.1), [rnd(2, 6, 8, 12) for _ in range(3)], lambda m, a, b, c: m(a, b, c))
case("mdta", MDTA(ch, 2), [rnd(2, ch, 6, 5)], lambda m, x: m(x))
case("gdfn", GDFN(ch, 2.66), [rnd(1, ch, 6, 5)], lambda m, x: m(x))
case("transformer_block", TransformerBlock(ch, 2, 2.66), [rnd(2, ch, 4, 6)], lambda m, x: m(x))
case("channel_attention", ChannelAttention(ch, 4), [rnd(2, ch, 5, 5)], lambda m, x: m(x))
case("frm", FRM(C), [rnd(2, ch, 8, 12)], lambda m, x: m(x))
case("cross_attention", PriorCrossAttention(ch, 3), [rnd(2, ch, 4, 3), rnd(2, 3, 4, 3)], lambda m, f, z: m(f, z))
case("pim", PIM(C), [rnd(2, ch, 8, 12), rnd(2, 3, 2, 3)], lambda m, x, z: m(x, z))
case("dhrnet", DHRNet(C, True), [rnd(1, ch, 16, 8), rnd(1, 3, 4, 2)], lambda m, x, z: m(x, z), grad=True)
case("dhrnet_baseline", DHRNet(C, False), [rnd(1, ch, 16, 8)], lambda m, x: m(x, None))
case("gt_prior", GtPriorNet(C), [torch.rand(2, 3, 16, 8) * 2], lambda m, g: m(g))
case("lpenet_dm", LPENetDM(C), [rnd(1, 6, 16, 8) for _ in range(3)], lambda m, a, b, c: m(a, b, c))
case("denoiser", Denoiser(C), [rnd(2, 3, 8, 12), rnd(2, 3, 8, 12)], lambda m, z, d: m(z, d, [3, 17]))
case("vgg19_narrow", Vgg19Features(16), [torch.rand(2, 3, 32, 48)], lambda m, x: m(x))
ldr = [torch.rand(1, 3, 16, 16) for _ in range(3)]
evs = [-2.0, 0.0, 2.0]
xs = [torch.cat([l, l ** 2.2 / 2 ** e], 1) for l, e in zip(ldr, evs)]
case("lfdiff_s2", LFDiff(C), [*xs, rnd(1, 3, 4, 4)], lambda m, a, b, c, z: m(a, b, c, z), grad=True)
# The open choices set the other way (config fields): HI-Diff's transformer PIM, softmax over
# the feature channels, no q/k normalisation, AHDRNet's LeakyReLU 0.01 and reference skip.
C_ALT = dict(C, pimBlock="transformer", pimSoftmax="features", pimNormalize=False, leakySlope=0.01,
             globalSkip="reference")
case("pim_alt", PIM(C_ALT), [rnd(2, ch, 8, 12), rnd(2, 3, 2, 3)], lambda m, x, z: m(x, z))
case("lfdiff_s2_alt", LFDiff(C_ALT), [*xs, rnd(1, 3, 4, 4)], lambda m, a, b, c, z: m(a, b, c, z), grad=True)

size = save_safetensors("tests/fixtures/model.safetensors", tensors,
                        {"cases": json.dumps(cases), "config": json.dumps(C), "configAlt": json.dumps(C_ALT)})
print(f"{len(cases)} model cases, {size / 1e6:.2f} MB")
