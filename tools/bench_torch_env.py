"""What the PyTorch bench processes share: the model benches' run flags and the settings they
imply, their safetensors reader, and what a process reports about itself: its peak resident
memory and the allocator it runs on (tcmalloc or jemalloc when preloaded, else glibc's malloc),
read from /proc so the report says what was loaded, not what was asked for."""
import json
import os
import re
import struct

import numpy as np
import torch


def parse_run(p):
    """Adds [cpu|cuda] [--precision fp32|bf16] [--format nchw|channels-last] after the script's
    own arguments (THREADS among them), parses, and sets the threads and TF32 (LFDIFF_TF32=1, as
    on our side). Returns the arguments, the device, the memory format and a synchronise."""
    p.add_argument("device", nargs="?", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--format", choices=["nchw", "channels-last"], default="nchw")
    a = p.parse_args()
    device = torch.device(a.device)
    fmt = torch.channels_last if a.format == "channels-last" else torch.contiguous_format
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = os.environ.get("LFDIFF_TF32") == "1"
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return a, device, fmt, sync


def read_safetensors(path):
    """The metadata and the float32 tensors of a safetensors file (a checkpoint or a batch)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return meta, {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                                    "<f4").reshape(v["shape"]).copy()) for k, v in header.items()}


def peak_mib():
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report its parent's peak.
    return int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024


def allocator():
    maps = open("/proc/self/maps").read()
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in maps:
            return name
    return "glibc"
