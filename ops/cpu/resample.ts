// Resizing planes [planes, h, w] → [planes, oh, ow] as PyTorch's interpolate does it:
// bilinear with align_corners=false (src = (dst+0.5)·in/out − 0.5, clamped at 0) and
// legacy nearest (src = floor(dst·in/out)), which PyTorch computes in float (ATen
// UpSample.h, nearest_idx): the float scale in/out, then floorf(dst · scale). Rounding each
// double result to float gives the same bits: the quotient of two integers below 2^24 rounds
// correctly through double (53 ≥ 2·24 + 2 bits), and dst · scale is exact in double.

import type { ResampleGeometry, ResampleMode } from "../backend.ts";

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  l1: Float32Array; // weight of i1; i0 gets 1 - l1
}

function taps(mode: ResampleMode, inSize: number, outSize: number): Taps {
  const t = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    l1: new Float32Array(outSize),
  };
  const scale = inSize / outSize;
  const scale32 = Math.fround(scale);
  for (let o = 0; o < outSize; o++) {
    if (mode === "nearest") {
      const i = Math.min(Math.floor(Math.fround(o * scale32)), inSize - 1);
      t.i0[o] = i;
      t.i1[o] = i;
      continue;
    }
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    t.i0[o] = i0;
    t.i1[o] = Math.min(i0 + 1, inSize - 1);
    t.l1[o] = src - i0;
  }
  return t;
}

export function resample(
  { mode, planes, h, w, oh, ow }: ResampleGeometry,
  x: Float32Array,
  y: Float32Array,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  for (let p = 0; p < planes; p++) {
    const xo = p * h * w, yo = p * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const r0 = xo + ty.i0[oy] * w, r1 = xo + ty.i1[oy] * w;
      const ly = ty.l1[oy], hy = 1 - ly;
      const d = yo + oy * ow;
      for (let ox = 0; ox < ow; ox++) {
        const c0 = tx.i0[ox], c1 = tx.i1[ox], lx = tx.l1[ox], hx = 1 - lx;
        y[d + ox] = hy * (hx * x[r0 + c0] + lx * x[r0 + c1]) +
          ly * (hx * x[r1 + c0] + lx * x[r1 + c1]);
      }
    }
  }
}

export function resampleBackward(
  { mode, planes, h, w, oh, ow }: ResampleGeometry,
  dy: Float32Array,
  dx: Float32Array,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  dx.fill(0);
  for (let p = 0; p < planes; p++) {
    const xo = p * h * w, yo = p * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const r0 = xo + ty.i0[oy] * w, r1 = xo + ty.i1[oy] * w;
      const ly = ty.l1[oy], hy = 1 - ly;
      const d = yo + oy * ow;
      for (let ox = 0; ox < ow; ox++) {
        const c0 = tx.i0[ox], c1 = tx.i1[ox], lx = tx.l1[ox], hx = 1 - lx;
        const g = dy[d + ox];
        dx[r0 + c0] += hy * hx * g;
        dx[r0 + c1] += hy * lx * g;
        dx[r1 + c0] += ly * hx * g;
        dx[r1 + c1] += ly * lx * g;
      }
    }
  }
}
