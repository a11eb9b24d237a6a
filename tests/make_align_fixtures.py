#!/usr/bin/python3
"""Writes tests/fixtures/align/: three frames of a real camera bracket, registered to the middle
one by OpenCV (an implementation independent of imaging/align.ts), cropped to the window and
halved to 640x480, as JPEG (quality 92). tests/align_test.ts warps them by known transforms and
checks that alignment recovers them.

The source is Pål Ellingsen's CC0 bracket from scikit-image pull request 1539 (commit
df2f1dc8316a62faf7990ec022005d8618f08010, skimage/data/UNIS_EV-2.jpg, UNIS_EV0.jpg,
UNIS_EV2.jpg; 2048x1536, Olympus TG-4, 1/1250, 1/320, 1/40 s). Usage, from the repository root:

    /usr/bin/python3 tests/make_align_fixtures.py DIR   # DIR holds the three UNIS_*.jpg
"""
import sys

import cv2
import numpy as np

SRC = ["UNIS_EV-2.jpg", "UNIS_EV0.jpg", "UNIS_EV2.jpg"]
OUT = ["unis_ev-2.jpg", "unis_ev0.jpg", "unis_ev2.jpg"]
CROP = (768, 96, 1280, 960)  # x, y, width, height at full size: the window and the wood around it


def luma(im):
    return (0.2126 * im[..., 0] + 0.7152 * im[..., 1] + 0.0722 * im[..., 2]).astype(np.float32)


def histogram_match(src, dst):
    """src's values sent to dst's at the same quantile (exposures differ, the scene does not)."""
    s, t = np.sort(src.ravel()), np.sort(dst.ravel())
    q = (np.searchsorted(s, src.ravel(), "left") + np.searchsorted(s, src.ravel(), "right")) / 2 / s.size
    return np.interp(q, (np.arange(t.size) + 0.5) / t.size, t).reshape(src.shape).astype(np.float32)


def valid(im):
    """Pixels no channel records near black or clipped, one pixel clear of any that does."""
    m = im.max(axis=2)
    return cv2.erode(((m > 0.03) & (m < 0.97)).astype(np.uint8), np.ones((3, 3), np.uint8))


frames = [cv2.imread(f"{sys.argv[1]}/{n}")[:, :, ::-1].astype(np.float32) / 255 for n in SRC]
ref = frames[1]
x, y, w, h = CROP
for i, im in enumerate(frames):
    shift = np.eye(2, 3, dtype=np.float32)
    if i != 1:
        mapped = np.stack([histogram_match(im[..., c], ref[..., c]) for c in range(3)], -1)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
        _, shift = cv2.findTransformECC(luma(ref), luma(mapped), shift, cv2.MOTION_TRANSLATION, criteria,
                                        valid(ref) & valid(im), 5)
        print(f"{SRC[i]}: shows the reference's (x, y) at (x{shift[0, 2]:+.3f}, y{shift[1, 2]:+.3f})")
    # Sample the frame where it shows each reference pixel of the crop (cubic), then halve.
    shift[:, 2] += (x, y)
    crop = cv2.warpAffine(im, shift, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    half = cv2.resize(crop, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    out = np.clip(np.rint(half * 255), 0, 255).astype(np.uint8)[:, :, ::-1]
    cv2.imwrite(f"tests/fixtures/align/{OUT[i]}", out, [cv2.IMWRITE_JPEG_QUALITY, 92])
