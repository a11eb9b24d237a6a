"""One stage-1 training step under PyTorch for `deno task bench --train-step`: the same s1
checkpoint (align.*, dhr.*, gtPrior.*) and batch (x1, x2, x3, gt in a safetensors file), loss
‖T(Ĥ) − T(H)‖₁, backward, Adam.

Usage: python3 tools/bench_train_torch.py CKPT BATCH THREADS ITERS [cpu|cuda]
           [--precision fp32|bf16] [--format nchw|channels-last]
bf16 is PyTorch's own mixed precision on the CPU, as its users are told to run it: the forward
under torch.autocast("cpu", dtype=torch.bfloat16), fp32 master weights, Adam and loss.
channels-last converts the model and the batch with memory_format=torch.channels_last.
Prints one JSON line: the step times in seconds, peak RSS (VmHWM, MiB), the allocator this
process runs on and, on CUDA, peak GPU memory. TF32 follows LFDIFF_TF32=1, as on our side."""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bench_torch_env import allocator, parse_run, peak_mib, read_safetensors  # noqa: E402
from torch_lfdiff import Alignment, DHRNet, GtPriorNet  # noqa: E402


class S1(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.align, self.dhr, self.gtPrior = Alignment(6, c["channels"], c["leakySlope"]), DHRNet(c, True), GtPriorNet(c)


p = argparse.ArgumentParser()
p.add_argument("ckpt")
p.add_argument("batch")
p.add_argument("threads", type=int)
p.add_argument("iters", type=int)
a, device, fmt, sync = parse_run(p)
meta, state = read_safetensors(a.ckpt)
c = json.loads(meta["lfdiff.config"])
model = S1(c).float()
model.load_state_dict(state)
model.to(device=device, memory_format=fmt)
_, b = read_safetensors(a.batch)
b = {k: v.to(device).contiguous(memory_format=fmt) for k, v in b.items()}
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
mu = lambda x: torch.log(1 + 5000 * x) / math.log(5001)  # noqa: E731
amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")
times = []
for _ in range(a.iters + 1):
    t = time.perf_counter()
    opt.zero_grad()
    with amp:
        z = model.gtPrior(b["gt"])
        out = model.dhr(model.align(b["x1"], b["x2"], b["x3"]), z)
    F.l1_loss(mu(out.float()), mu(b["gt"])).backward()
    opt.step()
    sync()
    times.append(time.perf_counter() - t)
gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
print(json.dumps({"times": times[1:], "peakMiB": peak_mib(), "gpuPeakMiB": gpu, "allocator": allocator(),
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
