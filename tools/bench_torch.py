"""The bench ops under PyTorch CPU, run one iteration at a time for `deno task bench`.

Usage: python3 tools/bench_torch.py THREADS
Prints a JSON header line (version, threads, allocator), then for each op name read from stdin runs that op once and
prints its time in milliseconds. Alternating single iterations with ours keeps the two
sides under the same load on a noisy host.
"""
import json
import sys
import time

import torch

from bench_torch_env import allocator

torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)

x = torch.randn(1, 60, 256, 256, requires_grad=True)
conv = torch.nn.Conv2d(60, 60, 3, padding=1)
g = torch.randn(1, 60, 256, 256)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)


def conv_fwd_bwd():
    x.grad = None
    conv.zero_grad()
    conv(x).backward(g)


def conv_fwd():
    with torch.no_grad():
        conv(x)


def matmul():
    with torch.no_grad():
        a @ b


OPS = {"conv3x3_fwd_bwd": conv_fwd_bwd, "conv3x3_fwd": conv_fwd, "matmul_1024": matmul}
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "allocator": allocator()}),
      flush=True)
for line in sys.stdin:
    fn = OPS[line.strip()]
    t = time.perf_counter()
    fn()
    print((time.perf_counter() - t) * 1e3, flush=True)
