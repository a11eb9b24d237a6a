"""LF-Diff inference under PyTorch for `deno task bench --infer`: the same checkpoint
(lfdiff safetensors) on the same scene folder, with the same padding.

Usage: python3 tools/bench_infer_torch.py CHECKPOINT SCENE_DIR THREADS [cpu|cuda]
           [--precision fp32|bf16] [--format nchw|channels-last]
bf16 runs the network under torch.autocast("cpu", dtype=torch.bfloat16) (the DDIM update and
the output in fp32); channels-last converts the model and inputs with
memory_format=torch.channels_last. Prints one JSON line: seconds (total, prior,
reconstruction), peak RSS (VmHWM) in MiB, the allocator this process runs on and, on CUDA,
peak GPU memory. TF32 follows LFDIFF_TF32=1, as on our side."""
import argparse
import json
import math
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bench_torch_env import allocator, parse_run, peak_mib, read_safetensors  # noqa: E402
from torch_lfdiff import LFDiff, alpha_bar  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("ckpt")
p.add_argument("scene")
p.add_argument("threads", type=int)
a, device, fmt, sync = parse_run(p)
meta, state = read_safetensors(a.ckpt)
c = json.loads(meta["lfdiff.config"])
model = LFDiff(c).float().eval()
model.load_state_dict(state)
model.to(device=device, memory_format=fmt)

evs = [float(v) for v in open(f"{a.scene}/exposure.txt").read().split()]
frames = [cv2.imread(f"{a.scene}/frame{i}.tif", cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float32) / 65535
          for i in (1, 2, 3)]
h, w = frames[0].shape[:2]
m = 16
ph, pw = math.ceil(h / m) * m, math.ceil(w / m) * m
xs = []
for f, e in zip(frames, evs):
    l = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None]
    l = F.pad(l, (0, pw - w, 0, ph - h), mode="reflect")
    xs.append(torch.cat([l, l ** 2.2 / 2 ** e], 1).to(device).contiguous(memory_format=fmt))
zT = torch.randn(1, c["priorChannels"], ph // c["unshuffle"], pw // c["unshuffle"]).to(device)
amp = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")  # noqa: E731

with torch.no_grad():
    t0 = time.perf_counter()
    with amp():
        d = model.lpeDm(*xs)
    ab, T, S = alpha_bar(c), c["timesteps"], c["samplingSteps"]
    ts = [math.floor((S - 1 - i) * T / S) for i in range(S)]
    z = zT
    for i, t in enumerate(ts):
        with amp():
            eps = model.denoiser(z, d, [t]).float()
        abp = ab[ts[i + 1]] if i + 1 < S else 1.0
        a_ = math.sqrt(abp / ab[t])
        z = a_ * z + (math.sqrt(1 - abp) - a_ * math.sqrt(1 - ab[t])) * eps
    sync()
    t1 = time.perf_counter()
    with amp():
        out = model.dhr(model.align(*xs), z)[..., :h, :w].float()
    sync()
    t2 = time.perf_counter()
gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
print(json.dumps({"seconds": t2 - t0, "prior": t1 - t0, "reconstruction": t2 - t1, "peakMiB": peak_mib(),
                  "gpuPeakMiB": gpu, "allocator": allocator(), "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
