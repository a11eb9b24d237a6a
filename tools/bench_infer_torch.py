"""LF-Diff inference under PyTorch CPU for `deno task bench --infer`: the same checkpoint
(lfdiff safetensors) on the same scene folder, with the same padding.
Usage: python3 tools/bench_infer_torch.py CHECKPOINT SCENE_DIR THREADS [cpu|cuda]
Prints one JSON line: seconds (total, prior, reconstruction), peak RSS (VmHWM) in MiB and, on
CUDA, peak GPU memory. TF32 follows LFDIFF_TF32=1, as on our side."""
import json
import math
import os
import re
import struct
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_lfdiff import LFDiff, alpha_bar  # noqa: E402

ckpt, scene, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
device = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
torch.set_num_threads(threads)
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = os.environ.get("LFDIFF_TF32") == "1"
raw = open(ckpt, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
c = json.loads(meta["lfdiff.config"])
state = {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4")
                             .reshape(v["shape"]).copy()) for k, v in header.items()}
model = LFDiff(c).float().eval()
model.load_state_dict(state)
model.to(device)

evs = [float(v) for v in open(f"{scene}/exposure.txt").read().split()]
frames = [cv2.imread(f"{scene}/frame{i}.tif", cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float32) / 65535
          for i in (1, 2, 3)]
h, w = frames[0].shape[:2]
m = 16
ph, pw = math.ceil(h / m) * m, math.ceil(w / m) * m
xs = []
for f, e in zip(frames, evs):
    l = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None]
    l = F.pad(l, (0, pw - w, 0, ph - h), mode="reflect")
    xs.append(torch.cat([l, l ** 2.2 / 2 ** e], 1).to(device))
zT = torch.randn(1, c["priorChannels"], ph // c["unshuffle"], pw // c["unshuffle"]).to(device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

with torch.no_grad():
    t0 = time.perf_counter()
    d = model.lpeDm(*xs)
    ab, T, S = alpha_bar(c), c["timesteps"], c["samplingSteps"]
    ts = [math.floor((S - 1 - i) * T / S) for i in range(S)]
    z = zT
    for i, t in enumerate(ts):
        eps = model.denoiser(z, d, [t])
        abp = ab[ts[i + 1]] if i + 1 < S else 1.0
        a = math.sqrt(abp / ab[t])
        z = a * z + (math.sqrt(1 - abp) - a * math.sqrt(1 - ab[t])) * eps
    sync()
    t1 = time.perf_counter()
    out = model.dhr(model.align(*xs), z)[..., :h, :w]
    sync()
    t2 = time.perf_counter()
# VmHWM, not getrusage: ru_maxrss survives exec, so a child would report its parent's peak.
peak = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
print(json.dumps({"seconds": t2 - t0, "prior": t1 - t0, "reconstruction": t2 - t1, "peakMiB": peak, "gpuPeakMiB": gpu,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
