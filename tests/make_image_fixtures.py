#!/usr/bin/python3
"""Writes the image-codec fixtures under tests/fixtures/images/ with other tools' encoders
and decoders: ImageMagick 6 (TIFF, PNG, JPEG), OpenCV (Radiance .hdr, OpenEXR) and the
OpenEXR library's own tools. The tests only read the committed files.

For every file, manifest.json names the tool's decode of it: `<file>.ref` holds float32
little-endian RGB (gray repeated), plus `<file>.alpha` when the image has alpha, as the
tool decoded it. Run from the repository root: /usr/bin/python3 tests/make_image_fixtures.py
"""
import base64
import hashlib
import json
import os
import struct
import subprocess
import zlib

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


def add(name, w, h, channels, depth, ref, tol, tool, options=None, suffix=""):
    """tol None: the decode must equal the reference bit for bit. options: DecodeOptions for
    this entry, whose reference files then carry `suffix`."""
    ref["rgb"].astype("<f4").tofile(f"{D}/{name}{suffix}.ref")
    entry = {"file": name, "width": w, "height": h, "channels": channels, "bitDepth": depth,
             "tol": 0 if tol is None else tol, "tool": tool}
    if tol is None:
        entry["exact"] = True
    if options:
        entry["options"] = options
        entry["suffix"] = suffix
    if "alpha" in ref:
        ref["alpha"].astype("<f4").tofile(f"{D}/{name}{suffix}.alpha")
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
    # No date/time chunks, so the files are byte-for-byte reproducible.
    sh("convert", s, *rest, "-define", "png:exclude-chunks=date,time", f"{fmt[0] if fmt else ''}{D}/{name}")
    add(name, W, H, ch, depth, im_decode(f"{D}/{name}", ch, ch in (2, 4)), 0, "imagemagick")

# --- JPEG (libjpeg-turbo's cjpeg; ImageMagick decodes with libjpeg-turbo too) ------------
JW, JH = 67, 45  # several MCUs, partial ones at the right and bottom edges
sh("convert", "-size", f"{JW}x{JH}", "-seed", "5", "plasma:orange-navy", "-depth", "8", "/tmp/lfdiff_src.ppm")
jpegs = [
    ("q90_444.jpg", ["-quality", "90", "-sample", "1x1"]),
    ("q85_422.jpg", ["-quality", "85", "-sample", "2x1"]),
    ("q75_420.jpg", ["-quality", "75", "-sample", "2x2"]),
    ("q80_440.jpg", ["-quality", "80", "-sample", "1x2"]),
    ("progressive_420.jpg", ["-quality", "80", "-progressive", "-sample", "2x2"]),
    ("progressive_444.jpg", ["-quality", "95", "-progressive", "-sample", "1x1"]),
    ("restart_420.jpg", ["-quality", "80", "-sample", "2x2", "-restart", "3B"]),
    ("progressive_restart.jpg", ["-quality", "80", "-progressive", "-restart", "2B"]),
    ("optimized_gray.jpg", ["-quality", "85", "-grayscale", "-optimize"]),
]
for name, opts in jpegs:
    sh("cjpeg", *opts, "-outfile", f"{D}/{name}", "/tmp/lfdiff_src.ppm")
    gray = "gray" in name
    add(name, JW, JH, 1 if gray else 3, 8, im_decode(f"{D}/{name}", 1 if gray else 3, False), 0,
        "libjpeg-turbo via imagemagick")


def with_orientation(src, dst, o):
    """Splices an EXIF APP1 segment holding Orientation=o after SOI."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01" + \
        bytes([0, o, 0, 0]) + b"\x00\x00\x00\x00"
    body = b"Exif\x00\x00" + tiff
    data = open(src, "rb").read()
    open(dst, "wb").write(data[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + data[2:])


for o in [3, 6, 8, 5]:
    name = f"orientation{o}.jpg"
    with_orientation(f"{D}/q75_420.jpg", f"{D}/{name}", o)
    w, h = (JH, JW) if o >= 5 else (JW, JH)
    add(name, w, h, 3, 8, im_decode(f"{D}/{name}", 3, False), 0, "libjpeg-turbo via imagemagick")

# --- Radiance .hdr and OpenEXR, written and decoded by OpenCV ---------------------------
def hdr_source(w, h, alpha=False):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([0.002 * 5e4 ** ((x + y) / (w + h)), 0.5 + 0.4 * np.sin(x / 3) * np.cos(y / 4),
                    np.where((x // 5 + y // 5) % 2 == 0, 20.0, 0.05)], -1)
    rgb[: h // 4, : w // 2] = [0.7, 0.7, 0.7]  # a flat patch gives the RLE coders runs
    if alpha:
        rgb = np.concatenate([rgb, (x / (w - 1))[..., None]], -1)
    return rgb.astype(np.float32)


def cv_decode(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 2:
        return {"rgb": np.repeat(img[..., None], 3, -1).ravel()}
    out = {"rgb": img[..., 2::-1].ravel()}
    if img.shape[2] == 4:
        out["alpha"] = img[..., 3].ravel()
    return out


def bgr(a):
    return a[..., [2, 1, 0, 3]] if a.shape[-1] == 4 else a[..., ::-1]


def unrle(data, w, h):
    """New-style RLE scanlines → flat RGBE bytes [h, w, 4]."""
    px, p = np.zeros((h, w, 4), np.uint8), 0
    for y in range(h):
        assert data[p] == 2 and data[p + 1] == 2
        p += 4
        for c in range(4):
            x = 0
            while x < w:
                n = data[p]
                p += 1
                if n > 128:
                    px[y, x:x + n - 128, c] = data[p]
                    p += 1
                    x += n - 128
                else:
                    px[y, x:x + n, c] = np.frombuffer(data[p:p + n], np.uint8)
                    p += n
                    x += n
    return px


src_hdr = hdr_source(W, H)
cv2.imwrite(f"{D}/rle.hdr", bgr(src_hdr))  # OpenCV writes run-length encoded scanlines
ref = cv_decode(f"{D}/rle.hdr")
add("rle.hdr", W, H, 3, 32, ref, 1e-7, "opencv")

# Flat pixels, the other axis orders and old-style runs, rearranged from OpenCV's file (OpenCV
# itself reads only "-Y H +X W"); the reference is OpenCV's decode of it.
rle = open(f"{D}/rle.hdr", "rb").read()
body_at = rle.index(b"\n-Y ")
header = rle[: body_at + 1]
px = unrle(rle[rle.index(b"\n", body_at + 1) + 1:], W, H)
open(f"{D}/flat.hdr", "wb").write(header + f"-Y {H} +X {W}\n".encode() + px.tobytes())
add("flat.hdr", W, H, 3, 32, ref, 1e-7, "opencv (its RLE file, stored flat)")
for name, res, grid in [
    ("flipped_y.hdr", f"+Y {H} +X {W}", px[::-1]),
    ("mirrored_x.hdr", f"-Y {H} -X {W}", px[:, ::-1]),
    ("columns.hdr", f"+X {W} -Y {H}", px.transpose(1, 0, 2)),
    ("columns_rev.hdr", f"-X {W} +Y {H}", px.transpose(1, 0, 2)[::-1, ::-1]),
]:
    open(f"{D}/{name}", "wb").write(header + res.encode() + b"\n" + np.ascontiguousarray(grid).tobytes())
    add(name, W, H, 3, 32, ref, 1e-7, "opencv (flat file, rearranged)")
old = bytearray(header + f"-Y {H} +X {W}\n".encode())
for row in px:  # old-style RLE: (1,1,1,n) repeats the previous pixel
    i = 0
    while i < W:
        j = i + 1
        while j < W and (row[j] == row[i]).all():
            j += 1
        old += bytes(row[i])
        if j - i > 1:
            old += bytes([1, 1, 1, j - i - 1])
        i = j
open(f"{D}/old_rle.hdr", "wb").write(bytes(old))
add("old_rle.hdr", W, H, 3, 32, ref, 1e-7, "opencv (flat file, old-style runs)")

EW, EH = 61, 45  # more than one ZIP (16-line) and PIZ (32-line) block
src_exr = hdr_source(EW, EH)
src_exra = hdr_source(EW, EH, alpha=True)
for comp, cname in [(0, "none"), (1, "rle"), (2, "zips"), (3, "zip"), (4, "piz")]:
    for t, tname in [(1, "half"), (2, "float")]:
        name = f"{cname}_{tname}.exr"
        cv2.imwrite(f"{D}/{name}", bgr(src_exr), [cv2.IMWRITE_EXR_TYPE, t, cv2.IMWRITE_EXR_COMPRESSION, comp])
        add(name, EW, EH, 3, 16 if t == 1 else 32, cv_decode(f"{D}/{name}"), 1e-7, "opencv/openexr")
for name, img, ch, comp in [("rgba_piz_half.exr", src_exra, 4, 4), ("y_zip_half.exr", src_exr[..., 1], 1, 3)]:
    cv2.imwrite(f"{D}/{name}", bgr(img) if img.ndim == 3 else img, [cv2.IMWRITE_EXR_TYPE, 1,
                                                                    cv2.IMWRITE_EXR_COMPRESSION, comp])
    add(name, EW, EH, ch, 16, cv_decode(f"{D}/{name}"), 1e-7, "opencv/openexr")

# --- OpenEXR's other compressions (OpenCV writes them; its decode is OpenEXR's) ----------
XW, XH = 38, 26  # even (luminance/chroma needs it); more than one 16- and 32-line chunk
src_x = hdr_source(XW, XH)
for comp, cname in [(5, "pxr24"), (6, "b44"), (7, "b44a")]:
    for t, tname in [(1, "half"), (2, "float")]:
        if tname == "float" and comp in (6, 7):
            continue  # B44 stores float channels as they are; one float case (PXR24) suffices
        name = f"{cname}_{tname}.exr"
        cv2.imwrite(f"{D}/{name}", bgr(src_x), [cv2.IMWRITE_EXR_TYPE, t, cv2.IMWRITE_EXR_COMPRESSION, comp])
        add(name, XW, XH, 3, 16 if t == 1 else 32, cv_decode(f"{D}/{name}"), None, "opencv/openexr")

# --- OpenEXR files OpenCV does not write: tests/exr_fixtures.cpp (the OpenEXR library) and
# its command-line tools; references are RgbaInputFile's decode (half RGBA).
helper = "/tmp/lfdiff_exr_fixtures"
flags = subprocess.run(["pkg-config", "--cflags", "--libs", "OpenEXR"], check=True, capture_output=True,
                       text=True).stdout.split()
sh("g++", "-O1", "-std=c++17", "tests/exr_fixtures.cpp", *flags, "-o", helper)


def exr_ref(path, alpha, display=False):
    out = subprocess.run([helper, "read", path, "1" if display else "0", "/tmp/lfdiff_ref.f32"], check=True,
                         capture_output=True, text=True).stdout.split()
    w, h = int(out[0]), int(out[1])
    rgba = np.fromfile("/tmp/lfdiff_ref.f32", "<f4").reshape(h, w, 4)
    ref = {"rgb": rgba[..., :3].ravel()}
    if alpha:
        ref["alpha"] = rgba[..., 3].ravel()
    return w, h, ref


for name, alpha, comp in [("yc_zip.exr", False, 3), ("yca_piz.exr", True, 4), ("yc_b44a.exr", False, 7),
                          ("yca_pxr24.exr", True, 5)]:
    sh(helper, "yc", f"{D}/{name}", str(XW), str(XH), "1" if alpha else "0", str(comp))
    w, h, ref = exr_ref(f"{D}/{name}", alpha)
    add(name, w, h, 4 if alpha else 3, 16, ref, None, "openexr RgbaInputFile")
# Tiled: one level, mip-mapped, rip-mapped (the full-resolution level is read).
cv2.imwrite("/tmp/lfdiff_tile_src.exr", bgr(src_x), [cv2.IMWRITE_EXR_TYPE, 1, cv2.IMWRITE_EXR_COMPRESSION, 3])
for name, mode in [("tiled_one.exr", "-o"), ("tiled_mip.exr", "-m"), ("tiled_rip.exr", "-r")]:
    sh("exrmaketiled", mode, "-t", "16", "12", "/tmp/lfdiff_tile_src.exr", f"{D}/{name}")
    w, h, ref = exr_ref(f"{D}/{name}", False)
    add(name, w, h, 3, 16, ref, None, "openexr RgbaInputFile")
# Multi-part: the first part by default, the second by name or index.
cv2.imwrite("/tmp/lfdiff_part2.exr", bgr(src_x[::-1] * 2), [cv2.IMWRITE_EXR_TYPE, 1,
                                                          cv2.IMWRITE_EXR_COMPRESSION, 4])
sh("exrmultipart", "-combine", "-i", "/tmp/lfdiff_tile_src.exr::beauty", "/tmp/lfdiff_part2.exr::second",
   "-o", f"{D}/multipart.exr")
for options, src_file, suffix in [(None, "/tmp/lfdiff_tile_src.exr", ""),
                                  ({"part": "second"}, "/tmp/lfdiff_part2.exr", ".second"),
                                  ({"part": 1}, "/tmp/lfdiff_part2.exr", ".part1")]:
    w, h, ref = exr_ref(src_file, False)
    add("multipart.exr", w, h, 3, 16, ref, None, "openexr RgbaInputFile (the part alone)", options, suffix)
# Display window larger than the data window, which starts at negative x.
sh(helper, "window", f"{D}/window.exr")
for options, suffix in [(None, ""), ({"displayWindow": True}, ".display")]:
    w, h, ref = exr_ref(f"{D}/window.exr", False, display=bool(options))
    add("window.exr", w, h, 3, 16, ref, None, "openexr RgbaInputFile", options, suffix)

# --- OpenEXR DWAA/DWAB (lossy DCT; 32- and 256-line chunks). OpenCV writes RGB(A), half or
# float; the helper writes layers with alpha and UNKNOWN (zlib) channels, and a perceptually
# linear Y; exrmaketiled a tiled file; the helper's luminance/chroma writer subsampled chroma.
# Two files are rewritten chunk by chunk into what no writer here makes: version-1 chunks (no
# rules: the legacy ones apply) and AC values under zlib instead of Huffman. One real map,
# cropped. References are OpenEXR's decodes, compared bit for bit.
def dwa_source(w, h, alpha=False, big=False):
    """In 8-line block rows: gradients (0.001 to 2000, 0 to 1, a ripple) behind flat grey, black
    and negative blocks; one flat block per special value (0, negative, tiny, subnormal in
    half, huge; beyond half range in float files); gentle grey ramps across and down, whose
    blocks keep only their first AC coefficient; a band of log-normal noise; isolated spikes.
    Regions past the image's edge are cut off."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([1e-3 * 2e6 ** (x / (w - 1)), y / (h - 1), 0.5 + 0.45 * np.sin(x / 4) * np.cos(y / 5)], -1)
    rgb[:16, :24] = 0.7
    rgb[16:24, :16] = 0.0
    rgb[24:32, :16] = [-0.5, -3.0, -0.01]
    specials = [0.0, -0.25, -700.0, 1e-5, 3e-6, 6e-8, 1000.0, 30000.0, 60000.0, 65504.0]
    specials += [1e6, -1e6, 1e-30] if big else []
    nbx = w // 8
    for k, v in enumerate(specials):
        by, bx = 4 + k // nbx, k % nbx
        rgb[8 * by:8 * by + 8, 8 * bx:8 * bx + 8] = [v, v / 2, -v]
    r0 = 32 + 8 * -(-len(specials) // nbx)
    rgb[r0:r0 + 8, :w // 2] = (0.3 + 3e-4 * x[r0:r0 + 8, :w // 2])[..., None]
    rgb[r0:r0 + 8, w // 2:] = (0.3 + 3e-4 * (y[r0:r0 + 8, w // 2:] - r0))[..., None]
    rgb[r0 + 8:r0 + 16] = rng.lognormal(-0.5, 1.5, rgb[r0 + 8:r0 + 16].shape)
    spikes = [(5, w - 3, 60000.0), (9, w - 9, -2000.0), (h - 2, 3, 1e-7), (h - 5, w // 2, 5e4)]
    for k, (yy, xx, v) in enumerate(spikes):
        rgb[yy, xx, k % 3] = v
    if alpha:
        a = x / (w - 1)
        a[:8] = 1.0
        a[8:16] = 0.0
        a[r0 + 8:r0 + 16] = rng.random(a[r0 + 8:r0 + 16].shape)
        rgb = np.concatenate([rgb, a[..., None]], -1)
    return rgb.astype(np.float32)


def exr_parts(path):
    """(header bytes, chunk records, channels, data window, compression, tiles) of a
    single-part file; chunk records are (coordinate bytes, data)."""
    b = open(path, "rb").read()
    p, attrs = 8, {}
    while b[p]:
        e = b.index(0, p)
        name = b[p:e].decode()
        e2 = b.index(0, e + 1)
        size = struct.unpack_from("<i", b, e2 + 1)[0]
        attrs[name] = b[e2 + 5:e2 + 5 + size]
        p = e2 + 5 + size
    header = b[:p + 1]
    chans, q = [], attrs["channels"]
    while q[0]:
        e = q.index(0)
        chans.append((q[:e].decode(),) + struct.unpack_from("<i4xii", q, e + 1))
        q = q[e + 17:]
    dw = struct.unpack("<4i", attrs["dataWindow"])
    comp = attrs["compression"][0]
    tiles = struct.unpack_from("<II", attrs["tiles"]) if "tiles" in attrs else None
    if tiles:
        n = -(-(dw[2] - dw[0] + 1) // tiles[0]) * -(-(dw[3] - dw[1] + 1) // tiles[1])
    else:
        n = -(-(dw[3] - dw[1] + 1) // {8: 32, 9: 256}[comp])
    offsets = struct.unpack_from(f"<{n}Q", b, p + 1)
    head = 20 if tiles else 8
    chunks = []
    for o in offsets:
        size = struct.unpack_from("<i", b, o + head - 4)[0]
        chunks.append((b[o:o + head - 4], b[o + head:o + head + size]))
    return header, chunks, chans, dw, comp, tiles


def raw_size(chans, x0, y0, w, h):
    ns = lambda s, a, b: b // s - a // s + (0 if (a // s) * s < a else 1)  # OpenEXR's numSamples
    return sum(ns(xs, x0, x0 + w - 1) * ns(ys, y0, y0 + h - 1) * (2 if t == 1 else 4)
               for _, t, xs, ys in chans)


def assert_dwa_compressed(path):
    """Every chunk went through DWA (OpenEXR stores a chunk raw when that is no larger)."""
    _, chunks, chans, dw, comp, tiles = exr_parts(path)
    assert comp in (8, 9), path
    for coords, data in chunks:
        if tiles:
            tx, ty = struct.unpack("<2i", coords[:8])
            x0, y0 = dw[0] + tx * tiles[0], dw[1] + ty * tiles[1]
            w, h = min(tiles[0], dw[2] - x0 + 1), min(tiles[1], dw[3] - y0 + 1)
        else:
            y0 = struct.unpack("<i", coords)[0]
            x0, w, h = dw[0], dw[2] - dw[0] + 1, min({8: 32, 9: 256}[comp], dw[3] - y0 + 1)
        assert len(data) < raw_size(chans, x0, y0, w, h), f"{path}: a chunk is stored raw"


def rewrite_dwa_chunks(src, dst, change):
    """Copies a scanline DWA file with each chunk's data replaced by change(data)."""
    header, chunks, *_ = exr_parts(src)
    body, table, at = b"", b"", len(header) + 8 * len(chunks)
    for coords, data in chunks:
        new = change(data)
        table += struct.pack("<Q", at + len(body))
        body += coords + struct.pack("<i", len(new)) + new
    open(dst, "wb").write(header + table + body)


def dwa_version1(data):
    """Version 1: no rules in the chunk."""
    rules = struct.unpack_from("<H", data, 88)[0]
    return struct.pack("<q", 1) + data[8:88] + data[88 + rules:]


def dwa_deflate_ac(data):
    """The AC values Huffman-decoded by OpenEXR, then zlib-compressed (AC compression 1)."""
    counts = list(struct.unpack_from("<11q", data))
    rules = struct.unpack_from("<H", data, 88)[0]
    ac_at = 88 + rules + counts[2]
    open("/tmp/lfdiff_ac.huf", "wb").write(data[ac_at:ac_at + counts[3]])
    sh(helper, "unhuf", "/tmp/lfdiff_ac.huf", str(counts[8]), "/tmp/lfdiff_ac.u16")
    ac = zlib.compress(open("/tmp/lfdiff_ac.u16", "rb").read(), 9)
    old = counts[3]
    counts[3], counts[10] = len(ac), 1
    return struct.pack("<11q", *counts) + data[88:ac_at] + ac + data[ac_at + old:]


AW, AH = 75, 70  # DWAA: 32-line chunks, the last 6 lines; blocks cut at both edges
BW, BH = 19, 300  # DWAB: a 256-line chunk and a 44-line one
for name, comp, t, w, h, alpha in [("dwaa_half.exr", 8, 1, AW, AH, False),
                                   ("dwaa_float.exr", 8, 2, AW, AH, False),
                                   ("dwab_half_rgba.exr", 9, 1, BW, BH, True),
                                   ("dwab_float_rgba.exr", 9, 2, BW, BH, True)]:
    cv2.imwrite(f"{D}/{name}", bgr(dwa_source(w, h, alpha, big=t == 2)),
                [cv2.IMWRITE_EXR_TYPE, t, cv2.IMWRITE_EXR_COMPRESSION, comp])
    assert_dwa_compressed(f"{D}/{name}")
    add(name, w, h, 4 if alpha else 3, 16 if t == 1 else 32, cv_decode(f"{D}/{name}"), None, "opencv/openexr")
for name, comp, layout, w, h in [("dwaa_layers.exr", 8, "layers", 45, 43),
                                 ("dwaa_y_plinear.exr", 8, "y_plinear", 53, 50)]:
    # Perceptually linear values are DCT'd as they are: kept to ±4000, the coefficients stay in
    # half range (beyond it they become infinities and the decode NaNs).
    src_dwa = dwa_source(w, h, alpha=True)
    with open("/tmp/lfdiff_dwa_src.f32", "wb") as f:
        f.write((np.clip(src_dwa, -4000, 4000) if layout == "y_plinear" else src_dwa)
                .astype("<f4").tobytes())
    sh(helper, "channels", f"{D}/{name}", "/tmp/lfdiff_dwa_src.f32", str(w), str(h), str(comp), layout)
    assert_dwa_compressed(f"{D}/{name}")
    w, h, ref = exr_ref(f"{D}/{name}", layout == "layers")
    add(name, w, h, 4 if layout == "layers" else 1, 16, ref, None, "openexr RgbaInputFile")
sh(helper, "yc", f"{D}/yca_dwaa.exr", "46", "44", "1", "8")  # luminance/chroma needs even sizes
assert_dwa_compressed(f"{D}/yca_dwaa.exr")
w, h, ref = exr_ref(f"{D}/yca_dwaa.exr", True)
add("yca_dwaa.exr", w, h, 4, 16, ref, None, "openexr RgbaInputFile")
cv2.imwrite("/tmp/lfdiff_dwa_tile_src.exr", bgr(dwa_source(AW, AH)), [cv2.IMWRITE_EXR_TYPE, 1,
                                                                      cv2.IMWRITE_EXR_COMPRESSION, 3])
sh("exrmaketiled", "-o", "-z", "dwab", "-t", "40", "24", "/tmp/lfdiff_dwa_tile_src.exr", f"{D}/tiled_dwab.exr")
assert_dwa_compressed(f"{D}/tiled_dwab.exr")
w, h, ref = exr_ref(f"{D}/tiled_dwab.exr", False)
add("tiled_dwab.exr", w, h, 3, 16, ref, None, "openexr RgbaInputFile")
for name, src_name, change, alpha in [("dwaa_v1.exr", "dwaa_half.exr", dwa_version1, False),
                                      ("dwab_deflate_ac.exr", "dwab_half_rgba.exr", dwa_deflate_ac, True)]:
    rewrite_dwa_chunks(f"{D}/{src_name}", f"{D}/{name}", change)
    w, h, ref = exr_ref(f"{D}/{name}", alpha)
    assert all((ref[k] == exr_ref(f"{D}/{src_name}", alpha)[2][k]).all() for k in ref), name  # same pixels
    add(name, w, h, 4 if alpha else 3, 16, ref, None, "openexr RgbaInputFile (rewritten chunks)")
# A real radiance map: @pmndrs/assets 1.7.0 (CC0; Poly Haven HDRIs at 512x256, DWAB), hdri/sky.exr,
# 90x60 pixels around the sun (to 22672, with negative ringing) as OpenEXR decodes them, written
# DWAB again (the package's file is one 100 kB chunk, too big to keep).
PM = "/tmp/lfdiff_pmndrs"
if not os.path.exists(f"{PM}/package/hdri/sky.exr.js"):
    os.makedirs(PM, exist_ok=True)
    sh("npm", "pack", "@pmndrs/assets@1.7.0", "--pack-destination", PM)
    sh("tar", "xzf", f"{PM}/pmndrs-assets-1.7.0.tgz", "-C", PM)
js = open(f"{PM}/package/hdri/sky.exr.js").read()
sky_exr = base64.b64decode(js[js.index("base64,") + 7:js.rindex("'")])
SKY_SHA256 = "a72412700b91a49080a582420476d2ab9a1e8fd181031f4ae7ec5e2596addc2a"
assert hashlib.sha256(sky_exr).hexdigest() == SKY_SHA256, "@pmndrs/assets sky.exr changed"
open(f"{PM}/sky.exr", "wb").write(sky_exr)
sky = cv2.imread(f"{PM}/sky.exr", cv2.IMREAD_UNCHANGED)
cv2.imwrite(f"{D}/pmndrs_sky_sun_dwab.exr", sky[30:90, 259:349], [cv2.IMWRITE_EXR_TYPE, 1,
                                                                 cv2.IMWRITE_EXR_COMPRESSION, 9])
assert_dwa_compressed(f"{D}/pmndrs_sky_sun_dwab.exr")
add("pmndrs_sky_sun_dwab.exr", 90, 60, 3, 16, cv_decode(f"{D}/pmndrs_sky_sun_dwab.exr"), None,
    "opencv/openexr (@pmndrs/assets sky.exr, CC0, cropped)")

# --- float TIFF: ImageMagick's LZW/Deflate with the floating-point predictor, OpenCV's LogLuv;
# references are OpenCV's decode (libtiff).
src_t = hdr_source(W, H)
with open("/tmp/lfdiff_src.pfm", "wb") as f:
    f.write(f"PF\n{W} {H}\n-1.0\n".encode() + np.ascontiguousarray(src_t[::-1]).astype("<f4").tobytes())
for name, opts in [("float_lzw_pred3.tif", ["-compress", "lzw"]),
                   ("float_zip_pred3_tiles.tif", ["-compress", "zip", "-define", "tiff:tile-geometry=16x16"])]:
    sh("convert", "/tmp/lfdiff_src.pfm", "-depth", "32", "-define", "quantum:format=floating-point", *opts,
       "-define", "tiff:predictor=3", f"{D}/{name}")
    add(name, W, H, 3, 32, cv_decode(f"{D}/{name}"), None, "imagemagick, decoded by opencv")
cv2.imwrite(f"{D}/logluv.tif", bgr(src_t))  # OpenCV writes float RGB as SGILOG LogLuv
add("logluv.tif", W, H, 3, 32, cv_decode(f"{D}/logluv.tif"), None, "opencv (libtiff)")


# --- what libjpeg and libtiff tolerate: junk before a JPEG marker, no EOI, a Deflate strip
# with bytes after its zlib stream (StripByteCounts covering them).
jpg = open(f"{D}/q75_420.jpg", "rb").read()
dqt = jpg.index(b"\xff\xdb")
open(f"{D}/junk_no_eoi.jpg", "wb").write(jpg[:dqt] + b"\x00junk\x17" + jpg[dqt:-2])
add("junk_no_eoi.jpg", JW, JH, 3, 8, im_decode(f"{D}/junk_no_eoi.jpg", 3, False), 0,
    "libjpeg-turbo via imagemagick")


def padded_deflate_tiff(path, gray):
    import struct
    import zlib
    strip = zlib.compress(gray.tobytes()) + b"\0" * 13
    entries = [(256, 3, 1, gray.shape[1]), (257, 3, 1, gray.shape[0]), (258, 3, 1, 8), (259, 3, 1, 8),
               (262, 3, 1, 1), (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, gray.shape[0]),
               (279, 4, 1, len(strip))]
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_at if tag == 273 else value
        ifd += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 else
                                                      struct.pack("<I", value))
    open(path, "wb").write(b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + strip)


gray = (np.arange(W * H).reshape(H, W) * 7 % 251).astype(np.uint8)
padded_deflate_tiff(f"{D}/deflate_padded.tif", gray)
add("deflate_padded.tif", W, H, 1, 8, im_decode(f"{D}/deflate_padded.tif", 1, False), 0, "libtiff via imagemagick")

# --- our encoders, decoded by the other tools --------------------------------------------
sh("deno", "run", "-A", "tests/codec_outputs.ts", D)
ours = []
for name in ["ours.hdr", "ours_half.exr", "ours_float.exr"]:
    ref = cv_decode(f"{D}/{name}")
    ref["rgb"].astype("<f4").tofile(f"{D}/{name}.ref")
    ours.append({"file": name, "tool": "opencv"})
for name in ["ours16.tif", "ours8.png", "ours16.png"]:
    im_decode(f"{D}/{name}", 3, False)["rgb"].astype("<f4").tofile(f"{D}/{name}.ref")
    ours.append({"file": name, "tool": "imagemagick"})
with open(f"{D}/ours.json", "w") as f:
    json.dump(ours, f, indent=1)

with open(f"{D}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=1)
print(f"{len(manifest)} image fixtures")
