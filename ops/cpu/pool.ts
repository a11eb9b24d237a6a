// Average pooling over planes [planes, h, w] → [planes, oh, ow], square kernel k, stride s,
// no padding (PyTorch's AvgPool2d(k, s) defaults).

import type { PoolGeometry } from "../backend.ts";

export function avgPool2d(g: PoolGeometry, x: Float32Array, y: Float32Array): void {
  const { planes, h, w, oh, ow, k, stride } = g;
  const inv = 1 / (k * k);
  for (let pl = 0; pl < planes; pl++) {
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

export function avgPool2dBackward(g: PoolGeometry, dy: Float32Array, dx: Float32Array): void {
  const { planes, h, w, oh, ow, k, stride } = g;
  const inv = 1 / (k * k);
  dx.fill(0);
  for (let pl = 0; pl < planes; pl++) {
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
