// Average and max pooling over planes [planes, h, w] → [planes, oh, ow], square kernel k,
// stride s, no padding (PyTorch's AvgPool2d(k, s) / MaxPool2d(k, s) defaults). Max pooling
// records the winning input of each output (the first one on ties, as PyTorch does) so
// the backward routes the gradient there. The backend hands us the argmax buffer as float32
// memory; the indices are written as int32 into that same memory, exact for any plane size
// (a float holds integers exactly only up to 2^24). Each pass does planes [lo, hi).

import type { PoolGeometry } from "../backend.ts";

export function avgPool2d(
  g: PoolGeometry,
  x: Float32Array,
  y: Float32Array,
  lo: number,
  hi: number,
): void {
  const { h, w, oh, ow, k, stride } = g;
  const inv = 1 / (k * k);
  for (let pl = lo; pl < hi; pl++) {
    const xo = pl * h * w, yo = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let s = 0;
        for (let ky = 0; ky < k; ky++) {
          const row = xo + (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < k; kx++) s += x[row + kx];
        }
        y[yo + oy * ow + ox] = s * inv;
      }
    }
  }
}

export function avgPool2dBackward(
  g: PoolGeometry,
  dy: Float32Array,
  dx: Float32Array,
  lo: number,
  hi: number,
): void {
  const { h, w, oh, ow, k, stride } = g;
  const inv = 1 / (k * k);
  dx.fill(0, lo * h * w, hi * h * w);
  for (let pl = lo; pl < hi; pl++) {
    const xo = pl * h * w, yo = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const v = dy[yo + oy * ow + ox] * inv;
        for (let ky = 0; ky < k; ky++) {
          const row = xo + (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < k; kx++) dx[row + kx] += v;
        }
      }
    }
  }
}

/** The int32 view of an argmax buffer. */
const indices = (argmax: Float32Array) =>
  new Int32Array(argmax.buffer, argmax.byteOffset, argmax.length);

export function maxPool2d(
  g: PoolGeometry,
  x: Float32Array,
  y: Float32Array,
  argmaxBuffer: Float32Array,
  lo: number,
  hi: number,
): void {
  const { h, w, oh, ow, k, stride } = g;
  const argmax = indices(argmaxBuffer);
  for (let pl = lo; pl < hi; pl++) {
    const xo = pl * h * w, yo = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best = -Infinity, at = 0;
        for (let ky = 0; ky < k; ky++) {
          const row = (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < k; kx++) {
            const v = x[xo + row + kx];
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = row + kx;
            }
          }
        }
        y[yo + oy * ow + ox] = best;
        argmax[yo + oy * ow + ox] = at;
      }
    }
  }
}

export function maxPool2dBackward(
  g: PoolGeometry,
  dy: Float32Array,
  argmaxBuffer: Float32Array,
  dx: Float32Array,
  lo: number,
  hi: number,
): void {
  const { h, w, oh, ow } = g;
  const argmax = indices(argmaxBuffer);
  dx.fill(0, lo * h * w, hi * h * w);
  for (let pl = lo; pl < hi; pl++) {
    const xo = pl * h * w, yo = pl * oh * ow;
    for (let i = 0; i < oh * ow; i++) dx[xo + argmax[yo + i]] += dy[yo + i];
  }
}
