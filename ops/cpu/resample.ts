// Resizing planes [planes, h, w] → [planes, oh, ow] as PyTorch's interpolate does it:
// bilinear with align_corners=false (src = (dst+0.5)·in/out − 0.5, clamped at 0) and
// legacy nearest (src = floor(dst·in/out)), which PyTorch computes in float (ATen
// UpSample.h, nearest_idx): the float scale in/out, then floorf(dst · scale). Rounding each
// double result to float gives the same bits: the quotient of two integers below 2^24 rounds
// correctly through double (53 ≥ 2·24 + 2 bits), and dst · scale is exact in double.
// Both passes are separable: rows are resized along x once (in double, so the result is
// what the two-tap formula gives), then blended along y. The forward splits over output
// rows, the backward over planes (each plane's gradient is its own). Channels-last images
// ([n, h, w, c], as the oneDNN backend keeps conv outputs) are resized the same way with the
// c values of a pixel side by side (`…Nhwc`: planes are images, each tap moves c values).
// The plain kernels are the Nhwc ones at c = 1, written out: through the channel loop that
// case runs 2–4× slower.

import type { ResampleGeometry, ResampleMode } from "../backend.ts";

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  l1: Float64Array; // weight of i1; i0 gets 1 - l1
}

export function taps(mode: ResampleMode, inSize: number, outSize: number): Taps {
  const t = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    l1: new Float64Array(outSize),
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
    t.l1[o] = Math.fround(src - i0);
  }
  return t;
}

/** Output rows [lo, hi) of all planes (row r is row r % oh of plane ⌊r / oh⌋). */
export function resample(
  { mode, h, w, oh, ow }: ResampleGeometry,
  x: Float32Array,
  y: Float32Array,
  lo: number,
  hi: number,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  // The two x-resized source rows of the current output row, cached by input row.
  const rows = [new Float64Array(ow), new Float64Array(ow)], at = [-1, -1];
  const resized = (src: number): Float64Array => {
    const slot = at[0] === src ? 0 : at[1] === src ? 1 : -1;
    if (slot >= 0) return rows[slot];
    const k = at[0] === -1 || at[1] !== -1 && at[0] < at[1] ? 0 : 1; // replace the older row
    const r = rows[k], o = src * w;
    for (let ox = 0; ox < ow; ox++) {
      const lx = tx.l1[ox];
      r[ox] = (1 - lx) * x[o + tx.i0[ox]] + lx * x[o + tx.i1[ox]];
    }
    at[k] = src;
    return r;
  };
  for (let row = lo; row < hi; row++) {
    const p = Math.floor(row / oh), oy = row - p * oh, d = row * ow;
    const r0 = resized(p * h + ty.i0[oy]), r1 = resized(p * h + ty.i1[oy]);
    const ly = ty.l1[oy], hy = 1 - ly;
    for (let ox = 0; ox < ow; ox++) y[d + ox] = hy * r0[ox] + ly * r1[ox];
  }
}

/** The gradient of planes [lo, hi): dx = resampleᵀ(dy). */
export function resampleBackward(
  { mode, h, w, oh, ow }: ResampleGeometry,
  dy: Float32Array,
  dx: Float32Array,
  lo: number,
  hi: number,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  const acc = new Float64Array(h * w), row = new Float64Array(w);
  for (let p = lo; p < hi; p++) {
    acc.fill(0);
    for (let oy = 0; oy < oh; oy++) {
      // Along x into one input-width row, then that row into its two source rows.
      row.fill(0);
      const d = (p * oh + oy) * ow;
      for (let ox = 0; ox < ow; ox++) {
        const g = dy[d + ox], lx = tx.l1[ox];
        row[tx.i0[ox]] += (1 - lx) * g;
        row[tx.i1[ox]] += lx * g;
      }
      const ly = ty.l1[oy], hy = 1 - ly, a0 = ty.i0[oy] * w, a1 = ty.i1[oy] * w;
      for (let ix = 0; ix < w; ix++) {
        acc[a0 + ix] += hy * row[ix];
        acc[a1 + ix] += ly * row[ix];
      }
    }
    dx.set(acc, p * h * w);
  }
}

/** Output rows [lo, hi) of channels-last images (row r is row r % oh of image ⌊r / oh⌋). */
export function resampleNhwc(
  { mode, h, w, oh, ow }: ResampleGeometry,
  c: number,
  x: Float32Array,
  y: Float32Array,
  lo: number,
  hi: number,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  const rows = [new Float64Array(ow * c), new Float64Array(ow * c)], at = [-1, -1];
  const resized = (src: number): Float64Array => {
    const slot = at[0] === src ? 0 : at[1] === src ? 1 : -1;
    if (slot >= 0) return rows[slot];
    const k = at[0] === -1 || at[1] !== -1 && at[0] < at[1] ? 0 : 1;
    const r = rows[k], o = src * w * c;
    for (let ox = 0; ox < ow; ox++) {
      const lx = tx.l1[ox], a = o + tx.i0[ox] * c, b = o + tx.i1[ox] * c, d = ox * c;
      for (let ch = 0; ch < c; ch++) r[d + ch] = (1 - lx) * x[a + ch] + lx * x[b + ch];
    }
    at[k] = src;
    return r;
  };
  for (let row = lo; row < hi; row++) {
    const p = Math.floor(row / oh), oy = row - p * oh, d = row * ow * c;
    const r0 = resized(p * h + ty.i0[oy]), r1 = resized(p * h + ty.i1[oy]);
    const ly = ty.l1[oy], hy = 1 - ly;
    for (let i = 0; i < ow * c; i++) y[d + i] = hy * r0[i] + ly * r1[i];
  }
}

/** The gradient of channels-last images [lo, hi). */
export function resampleNhwcBackward(
  { mode, h, w, oh, ow }: ResampleGeometry,
  c: number,
  dy: Float32Array,
  dx: Float32Array,
  lo: number,
  hi: number,
): void {
  const ty = taps(mode, h, oh), tx = taps(mode, w, ow);
  const acc = new Float64Array(h * w * c), row = new Float64Array(w * c);
  for (let p = lo; p < hi; p++) {
    acc.fill(0);
    for (let oy = 0; oy < oh; oy++) {
      row.fill(0);
      const d = (p * oh + oy) * ow * c;
      for (let ox = 0; ox < ow; ox++) {
        const lx = tx.l1[ox], a = tx.i0[ox] * c, b = tx.i1[ox] * c, s = d + ox * c;
        for (let ch = 0; ch < c; ch++) {
          const g = dy[s + ch];
          row[a + ch] += (1 - lx) * g;
          row[b + ch] += lx * g;
        }
      }
      const ly = ty.l1[oy], hy = 1 - ly, a0 = ty.i0[oy] * w * c, a1 = ty.i1[oy] * w * c;
      for (let i = 0; i < w * c; i++) {
        acc[a0 + i] += hy * row[i];
        acc[a1 + i] += ly * row[i];
      }
    }
    dx.set(acc, p * h * w * c);
  }
}
