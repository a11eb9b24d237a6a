#!/usr/bin/python3
"""Writes tests/fixtures/metrics.safetensors: HDR image pairs and their PSNR-L/-μ and
SSIM-L/-μ from scikit-image and from the OpenCV formulation used in HDR code (BasicSR's
calculate_ssim). Run from the repository root: /usr/bin/python3 tests/make_metric_goldens.py"""
import json
import os
import sys

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import save_safetensors  # noqa: E402

MU = 5000.0
rng = np.random.default_rng(11)


def tonemap(x):
    return np.log(1 + MU * x) / np.log(1 + MU)


def ssim_cv(a, b):
    """BasicSR-style: per channel, cv2 Gaussian 11x11 σ1.5, valid region, mean over channels."""
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    win = np.outer(k, k.T)
    vals = []
    for c in range(a.shape[2]):
        x = np.clip(a[..., c], 0, 1).astype(np.float64) * 255
        y = np.clip(b[..., c], 0, 1).astype(np.float64) * 255
        f = lambda t: cv2.filter2D(t, -1, win)[5:-5, 5:-5]  # noqa: E731
        mx, my = f(x), f(y)
        sx, sy, sxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        m = ((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx ** 2 + my ** 2 + C1) * (sx + sy + C2))
        vals.append(m.mean())
    return float(np.mean(vals))


def ssim_sk(a, b):
    return structural_similarity(np.clip(a, 0, 1) * 255, np.clip(b, 0, 1) * 255, channel_axis=2, data_range=255,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


tensors, cases = {}, []
for name, (h, w) in [("pair_a", (37, 52)), ("pair_b", (11, 11)), ("pair_c", (64, 48))]:
    y, x = np.mgrid[0:h, 0:w]
    gt = np.stack([0.002 * 400 ** (x / w), 0.3 + 0.25 * np.sin(y / 3.0), np.where((x + y) % 9 < 4, 0.9, 0.01)], -1)
    gt = (gt * rng.uniform(0.8, 1.2, gt.shape)).astype(np.float32)
    gt[:3, :5] = 1.4  # values above 1: clipped for SSIM, kept for PSNR
    pred = np.clip(gt + rng.normal(0, 0.02, gt.shape) * (gt + 0.05), 0, None).astype(np.float32)
    res = {
        "psnrL": peak_signal_noise_ratio(gt.astype(np.float64), pred.astype(np.float64), data_range=1),
        "psnrMu": peak_signal_noise_ratio(tonemap(gt.astype(np.float64)), tonemap(pred.astype(np.float64)),
                                          data_range=1),
        "ssimL": ssim_sk(pred.astype(np.float64), gt.astype(np.float64)),
        "ssimMu": ssim_sk(tonemap(pred.astype(np.float64)), tonemap(gt.astype(np.float64))),
        "ssimL_cv": ssim_cv(pred, gt),
        "ssimMu_cv": ssim_cv(tonemap(pred.astype(np.float64)), tonemap(gt.astype(np.float64))),
    }
    tensors[f"{name}.gt"], tensors[f"{name}.pred"] = gt, pred
    cases.append({"name": name, **{k: float(v) for k, v in res.items()}})
    print(name, {k: round(v, 6) for k, v in res.items()})

save_safetensors("tests/fixtures/metrics.safetensors", tensors, {"cases": json.dumps(cases)})
