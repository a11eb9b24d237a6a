#!/usr/bin/python3
"""Writes the image-codec fixtures under tests/fixtures/images/ with other tools' encoders
and decoders: ImageMagick 6 (TIFF, PNG, JPEG), OpenCV (Radiance .hdr, OpenEXR) and the
OpenEXR library's own tools. The tests only read the committed files.

For every file, manifest.json names the tool's decode of it: `<file>.ref` holds float32
little-endian RGB (gray repeated), plus `<file>.alpha` when the image has alpha, as the
tool decoded it. Run from the repository root: /usr/bin/python3 tests/make_image_fixtures.py
"""
import json
import os
import subprocess

import numpy as np

os.environ["OPENCV_IO_ENABLE_OPENEXR"] = "1"
import cv2  # noqa: E402

D = "tests/fixtures/images"
W, H = 29, 19  # odd sizes: partial tiles, strips and MCUs
manifest = []


def sh(*args):
    subprocess.run(args, check=True)


def im_decode(path, channels, alpha):
    """ImageMagick's decode as float32 RGB in [0,1] (and alpha)."""
    rgb = subprocess.run(["convert", path, "-auto-orient", "-depth", "16", "-endian", "LSB", "rgb:-"],
                         check=True, capture_output=True).stdout
    ref = np.frombuffer(rgb, "<u2").astype(np.float32) / 65535
    out = {"rgb": ref}
    if alpha:
        a = subprocess.run(["convert", path, "-alpha", "extract", "-depth", "16", "-endian", "LSB", "gray:-"],
                           check=True, capture_output=True).stdout
        out["alpha"] = np.frombuffer(a, "<u2").astype(np.float32) / 65535
    return out


def add(name, w, h, channels, depth, ref, tol, tool):
    ref["rgb"].astype("<f4").tofile(f"{D}/{name}.ref")
    entry = {"file": name, "width": w, "height": h, "channels": channels, "bitDepth": depth, "tol": tol,
             "tool": tool}
    if "alpha" in ref:
        ref["alpha"].astype("<f4").tofile(f"{D}/{name}.alpha")
        entry["alpha"] = True
    manifest.append(entry)


def source16(path, w=W, h=H, alpha=False):
    sh("convert", "-size", f"{w}x{h}", "-seed", "3", "plasma:red-blue", "-depth", "16",
       *(["(", "-size", f"{w}x{h}", "gradient:white-black", ")", "-alpha", "off", "-compose", "copy_opacity",
          "-composite"] if alpha else []), path)


# --- TIFF -------------------------------------------------------------------------------
src = "/tmp/lfdiff_src16.png"
source16(src)
srca = "/tmp/lfdiff_src16a.png"
source16(srca, alpha=True)
tiffs = [
    ("rgb16_none.tif", src, ["-depth", "16", "-compress", "none"], 3, 16),
    ("rgb16_lzw.tif", src, ["-depth", "16", "-compress", "lzw"], 3, 16),
    ("rgb16_zip.tif", src, ["-depth", "16", "-compress", "zip"], 3, 16),
    ("rgb16_lzw_pred2.tif", src, ["-depth", "16", "-compress", "lzw", "-define", "tiff:predictor=2"], 3, 16),
    ("rgb16_zip_pred2_tiles.tif", src, ["-depth", "16", "-compress", "zip", "-define", "tiff:predictor=2",
                                        "-define", "tiff:tile-geometry=16x16"], 3, 16),
    ("rgb16_strips.tif", src, ["-depth", "16", "-compress", "lzw", "-define", "tiff:rows-per-strip=5"], 3, 16),
    ("rgb8_packbits.tif", src, ["-depth", "8", "-compress", "rle"], 3, 8),
    ("rgb8_planar_lzw.tif", src, ["-depth", "8", "-interlace", "plane", "-compress", "lzw"], 3, 8),
    ("gray16_zip.tif", src, ["-colorspace", "gray", "-depth", "16", "-compress", "zip"], 1, 16),
    ("gray8_none.tif", src, ["-colorspace", "gray", "-depth", "8", "-compress", "none"], 1, 8),
    ("rgba16_lzw.tif", srca, ["-depth", "16", "-compress", "lzw"], 4, 16),
]
for name, s, opts, ch, depth in tiffs:
    sh("convert", s, *opts, f"{D}/{name}")
    add(name, W, H, ch, depth, im_decode(f"{D}/{name}", ch, ch in (2, 4)), 0, "imagemagick")
# libtiff's tiffcp for what ImageMagick will not write: big-endian, and LZW/Deflate without
# the predictor ImageMagick always adds.
for name, args in [("rgb16_msb_lzw.tif", ["-B", "-c", "lzw:2", "-r", "4"]),
                   ("rgb16_lzw_nopred.tif", ["-c", "lzw"]),
                   ("rgb8_zip_nopred_tiles.tif", ["-c", "zip", "-t", "-w", "16", "-l", "16"])]:
    base = f"{D}/rgb8_packbits.tif" if name.startswith("rgb8") else f"{D}/rgb16_none.tif"
    sh("tiffcp", *args, base, f"{D}/{name}")
    add(name, W, H, 3, 8 if name.startswith("rgb8") else 16, im_decode(f"{D}/{name}", 3, False), 0,
        "libtiff tiffcp + imagemagick")

# --- PNG --------------------------------------------------------------------------------
pngs = [
    ("rgb8.png", src, ["-depth", "8", "PNG24:"], 3, 8),
    ("rgb16.png", src, ["-depth", "16", "PNG48:"], 3, 16),
    ("rgba16.png", srca, ["-depth", "16", "PNG64:"], 4, 16),
    ("rgba8_interlaced.png", srca, ["-depth", "8", "-interlace", "PNG", "PNG32:"], 4, 8),
    ("rgb16_interlaced.png", src, ["-depth", "16", "-interlace", "PNG", "PNG48:"], 3, 16),
    ("gray8.png", src, ["-colorspace", "gray", "-depth", "8", "-define", "png:color-type=0"], 1, 8),
    ("gray4.png", src, ["-colorspace", "gray", "-depth", "4", "-define", "png:color-type=0",
                        "-define", "png:bit-depth=4"], 1, 4),
    ("gray1.png", src, ["-colorspace", "gray", "-threshold", "50%", "-depth", "1", "-define",
                        "png:color-type=0", "-define", "png:bit-depth=1"], 1, 1),
    ("gray_alpha16.png", srca, ["-colorspace", "gray", "-depth", "16", "-define", "png:color-type=4"], 2, 16),
    ("palette8.png", src, ["-colors", "40", "PNG8:"], 3, 8),
]
for name, s, opts, ch, depth in pngs:
    fmt = [o for o in opts if o.endswith(":")]
    rest = [o for o in opts if not o.endswith(":")]
    sh("convert", s, *rest, f"{fmt[0] if fmt else ''}{D}/{name}")
    add(name, W, H, ch, depth, im_decode(f"{D}/{name}", ch, ch in (2, 4)), 0, "imagemagick")

with open(f"{D}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=1)
print(f"{len(manifest)} image fixtures")
