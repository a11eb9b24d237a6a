#!/usr/bin/python3
"""Writes tests/fixtures/images/cjpeg_*.jpg: what libjpeg-turbo's cjpeg (Debian
libjpeg-turbo-progs) writes from small 8-bit images, for tests/jpeg_test.ts to check that
encodeJpeg writes the same bytes. The pixels follow jpegSource() in that test; 21x19 leaves
partial MCUs, and so libjpeg's padding blocks, at the right and bottom edges.
Run from the repository root: /usr/bin/python3 tests/make_jpeg_fixtures.py
"""
import os
import subprocess
import tempfile

W, H = 21, 19
D = "tests/fixtures/images"


def value(x, y, c):
    if c == 0:
        return x * 255 // (W - 1)
    if c == 1:
        return y * 255 // (H - 1)
    return ((x // 4 + y // 4) % 2) * 200 + 20


rgb = bytes(value(x, y, c) for y in range(H) for x in range(W) for c in range(3))
gray = bytes((x * 9 + y * 5) % 256 for y in range(H) for x in range(W))
with tempfile.TemporaryDirectory() as tmp:
    with open(f"{tmp}/rgb.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (W, H) + rgb)
    with open(f"{tmp}/gray.pgm", "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (W, H) + gray)
    for name, args, src in [
        ("cjpeg_q75_420.jpg", ["-quality", "75", "-sample", "2x2"], "rgb.ppm"),
        ("cjpeg_q95_444.jpg", ["-quality", "95", "-sample", "1x1"], "rgb.ppm"),
        ("cjpeg_q10_420.jpg", ["-quality", "10", "-sample", "2x2"], "rgb.ppm"),
        ("cjpeg_q50_gray.jpg", ["-quality", "50"], "gray.pgm"),
    ]:
        subprocess.run(["cjpeg", "-baseline", *args, "-outfile", os.path.join(D, name),
                        f"{tmp}/{src}"], check=True)
