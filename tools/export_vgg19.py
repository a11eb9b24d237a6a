"""Exports torchvision's ImageNet VGG19 convolution weights (features.N.weight/bias, the
names model/vgg.ts reads) to a safetensors file, for the perceptual term of Eq. 11:
    python3 tools/export_vgg19.py vgg19.safetensors
Needs torch and torchvision with the weights downloadable (or already in torch's cache).
Optional: nothing in lfdiff's tests or tools needs Python."""
import json
import struct
import sys

import torchvision

out = sys.argv[1] if len(sys.argv) > 1 else "vgg19.safetensors"
features = torchvision.models.vgg19(weights="IMAGENET1K_V1").features
header, blobs, at = {}, [], 0
for name, t in features.state_dict().items():
    data = t.detach().float().contiguous().numpy().tobytes()
    header[f"features.{name}"] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
    blobs.append(data)
    at += len(data)
head = json.dumps(header).encode()
head += b" " * (-len(head) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
print(f"{out}: {len(header)} tensors, {at / 1e6:.1f} MB")
