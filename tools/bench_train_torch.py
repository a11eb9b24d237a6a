"""One stage-1 training step under PyTorch CPU for `deno task bench --train-step`: the same
s1 checkpoint (align.*, dhr.*, gtPrior.*) and batch (x1, x2, x3, gt in a safetensors file),
loss ‖T(Ĥ) − T(H)‖₁, backward, Adam. Usage: python3 tools/bench_train_torch.py CKPT BATCH
THREADS ITERS [cpu|cuda]. Prints one JSON line: the step times in seconds, peak RSS (VmHWM,
MiB) and, on CUDA, peak GPU memory. TF32 follows LFDIFF_TF32=1, as on our side."""
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_lfdiff import Alignment, DHRNet, GtPriorNet  # noqa: E402


def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return meta, {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                                    "<f4").reshape(v["shape"]).copy()) for k, v in header.items()}


class S1(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.align, self.dhr, self.gtPrior = Alignment(6, c["channels"], c["leakySlope"]), DHRNet(c, True), GtPriorNet(c)


ckpt, batch, threads, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
device = torch.device(sys.argv[5] if len(sys.argv) > 5 else "cpu")
torch.set_num_threads(threads)
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = os.environ.get("LFDIFF_TF32") == "1"
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
meta, state = read(ckpt)
c = json.loads(meta["lfdiff.config"])
model = S1(c).float()
model.load_state_dict(state)
model.to(device)
_, b = read(batch)
b = {k: v.to(device) for k, v in b.items()}
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
mu = lambda x: torch.log(1 + 5000 * x) / math.log(5001)  # noqa: E731
times = []
for _ in range(iters + 1):
    t = time.perf_counter()
    opt.zero_grad()
    z = model.gtPrior(b["gt"])
    out = model.dhr(model.align(b["x1"], b["x2"], b["x3"]), z)
    F.l1_loss(mu(out), mu(b["gt"])).backward()
    opt.step()
    sync()
    times.append(time.perf_counter() - t)
peak = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
print(json.dumps({"times": times[1:], "peakMiB": peak, "gpuPeakMiB": gpu, "torch": torch.__version__}))
