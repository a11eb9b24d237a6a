"""Writing safetensors fixtures from the golden-making scripts (float32, JSON metadata)."""
import json
import struct

import numpy as np


def save_safetensors(path, tensors, metadata):
    """tensors: name → torch tensor or numpy array; metadata: name → string."""
    header = {"__metadata__": metadata}
    blobs, at = [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else t
        b = np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return at
