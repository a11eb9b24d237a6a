#!/usr/bin/python3
"""Writes samples/bracket/: a synthetic 384x256 handheld bracket (deno task synth, seed 11, 4 objects)
as three JPEGs (libjpeg-turbo's cjpeg, quality 92) carrying EXIF exposure times 1/400,
1/100 and 1/25 s (EV -2, 0, +2), plus the scene's ground truth (shortest-exposure units, as synth
writes it and infer outputs). Run from the repo root."""
import os
import shutil
import subprocess
import tempfile

tmp = tempfile.mkdtemp()
subprocess.run(["deno", "run", "-A", "tools/synth.ts", "--out", tmp, "--scenes", "1", "--test", "0", "--size",
                "384x256", "--seed", "11", "--bits", "8", "--objects", "4"], check=True)
scene = f"{tmp}/Training/001"
out = "samples/bracket"
os.makedirs(out, exist_ok=True)


def exif(num, den):
    """TIFF block: IFD0 with an Exif IFD pointer; Exif IFD with ExposureTime (RATIONAL)."""
    le = lambda v, n: v.to_bytes(n, "little")  # noqa: E731
    ifd0 = le(1, 2) + le(0x8769, 2) + le(4, 2) + le(1, 4) + le(26, 4) + le(0, 4)  # at 8, 18 bytes
    exif_ifd = le(1, 2) + le(0x829A, 2) + le(5, 2) + le(1, 4) + le(44, 4) + le(0, 4)  # at 26, 18 bytes
    return b"II*\x00" + le(8, 4) + ifd0 + exif_ifd + le(num, 4) + le(den, 4)


for i, (name, den) in enumerate([("ev-2", 400), ("ev0", 100), ("ev+2", 25)]):
    ppm = f"{tmp}/{name}.ppm"
    subprocess.run(["convert", f"{scene}/frame{i + 1}.tif", "-depth", "8", ppm], check=True)
    subprocess.run(["cjpeg", "-quality", "92", "-outfile", f"{tmp}/{name}.jpg", ppm], check=True)
    data = open(f"{tmp}/{name}.jpg", "rb").read()
    body = b"Exif\x00\x00" + exif(1, den)
    app1 = b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body
    open(f"{out}/{name}.jpg", "wb").write(data[:2] + app1 + data[2:])
shutil.copy(f"{scene}/HDRImg.hdr", f"{out}/HDRImg.hdr")
shutil.rmtree(tmp)
print("samples/bracket written")
