// conv2d on the CPU as GEMMs over im2col tiles.
//   x [n, cin, h, w], weight [cout, cin/groups, kh, kw], y [n, cout, oh, ow]
// The column matrix is built a band of output rows at a time so it stays small (the whole
// im2col of a 60-channel 256² image would be 141 MB). 1×1 stride-1 convs use x directly.
// Stride-1 backward-data is the forward conv of dy with the flipped, transposed kernel, which
// needs only im2col (memcpy rows) instead of a scatter-add col2im.

import type { Conv2dGeometry } from "../backend.ts";
import type { Sgemm } from "./gemm.ts";

/** Target column-tile size in floats: big enough for GEMM efficiency, small enough for cache. */
const TILE_FLOATS = 1 << 20;

function bandRows(k: number, oh: number, ow: number): number {
  return Math.max(1, Math.min(oh, Math.floor(TILE_FLOATS / (k * ow))));
}

function isPointwise(g: Conv2dGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 &&
    g.padW === 0;
}

/** col[(ci,ky,kx), (oy-r0)*ow + ox] for output rows r0 ≤ oy < r0+rows of one group. */
function im2col(
  x: Float32Array,
  xOff: number,
  cig: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
  col: Float32Array,
): void {
  const { h, w, kh, kw, ow, strideH, strideW, padH, padW, dilH, dilW } = g;
  const np = rows * ow;
  for (let ci = 0; ci < cig; ci++) {
    const plane = xOff + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const base = ((ci * kh + ky) * kw + kx) * np;
        const dx = kx * dilW - padW;
        // valid ox: 0 ≤ ox*strideW + dx < w
        const lo = Math.min(ow, Math.max(0, Math.ceil(-dx / strideW)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((w - 1 - dx) / strideW) + 1));
        for (let r = 0; r < rows; r++) {
          const iy = (r0 + r) * strideH - padH + ky * dilH;
          const d = base + r * ow;
          if (iy < 0 || iy >= h) {
            col.fill(0, d, d + ow);
            continue;
          }
          if (lo > 0) col.fill(0, d, d + lo);
          if (hi < ow) col.fill(0, d + hi, d + ow);
          const s = plane + iy * w + dx;
          if (strideW === 1) col.set(x.subarray(s + lo, s + hi), d + lo);
          else for (let ox = lo; ox < hi; ox++) col[d + ox] = x[s + ox * strideW];
        }
      }
    }
  }
}

/** Scatter-adds a column tile back into dx (the adjoint of im2col). */
function col2im(
  col: Float32Array,
  dx: Float32Array,
  xOff: number,
  cig: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
): void {
  const { h, w, kh, kw, ow, strideH, strideW, padH, padW, dilH, dilW } = g;
  const np = rows * ow;
  for (let ci = 0; ci < cig; ci++) {
    const plane = xOff + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const base = ((ci * kh + ky) * kw + kx) * np;
        const dxo = kx * dilW - padW;
        const lo = Math.min(ow, Math.max(0, Math.ceil(-dxo / strideW)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((w - 1 - dxo) / strideW) + 1));
        for (let r = 0; r < rows; r++) {
          const iy = (r0 + r) * strideH - padH + ky * dilH;
          if (iy < 0 || iy >= h) continue;
          const d = base + r * ow;
          const s = plane + iy * w + dxo;
          for (let ox = lo; ox < hi; ox++) dx[s + ox * strideW] += col[d + ox];
        }
      }
    }
  }
}

export function conv2dForward(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const pointwise = isPointwise(g);
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : new Float32Array(k * band * ow);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      const wg = weight.subarray(gi * cog * k);
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        if (col) {
          im2col(x, xOff, cig, g, r0, rows, col);
          sgemm(false, false, cog, np, k, 1, wg, k, col, np, 0, y.subarray(yOff + r0 * ow), p);
        } else {
          sgemm(false, false, cog, np, k, 1, wg, k, x.subarray(xOff), p, 0, y.subarray(yOff), p);
        }
      }
    }
  }
  if (bias) {
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < cout; c++) {
        const o = (b * cout + c) * p, v = bias[c];
        for (let i = 0; i < p; i++) y[o + i] += v;
      }
    }
  }
}

export function conv2dBackwardData(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  dy: Float32Array,
  weight: Float32Array,
  dx: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups, padH, padW, dilH, dilW } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const tpadH = dilH * (kh - 1) - padH, tpadW = dilW * (kw - 1) - padW;
  if (g.strideH === 1 && g.strideW === 1 && tpadH >= 0 && tpadW >= 0 && !isPointwise(g)) {
    // dx = conv(dy, flip(weight) with in/out swapped per group), stride 1, pad d(k-1)-p.
    const kk = kh * kw;
    const wt = new Float32Array(weight.length);
    for (let gi = 0; gi < groups; gi++) {
      for (let co = 0; co < cog; co++) {
        for (let ci = 0; ci < cig; ci++) {
          const src = ((gi * cog + co) * cig + ci) * kk;
          const dst = ((gi * cig + ci) * cog + co) * kk;
          for (let t = 0; t < kk; t++) wt[dst + t] = weight[src + kk - 1 - t];
        }
      }
    }
    conv2dForward(
      sgemm,
      {
        n,
        cin: cout,
        h: oh,
        w: ow,
        cout: cin,
        kh,
        kw,
        oh: h,
        ow: w,
        strideH: 1,
        strideW: 1,
        padH: tpadH,
        padW: tpadW,
        dilH,
        dilW,
        groups,
      },
      dy,
      wt,
      null,
      dx,
    );
    return;
  }
  const pointwise = isPointwise(g);
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : new Float32Array(k * band * ow);
  if (col) dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      const wg = weight.subarray(gi * cog * k);
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        const gy = dy.subarray(yOff + r0 * ow);
        if (col) {
          sgemm(true, false, k, np, cog, 1, wg, k, gy, p, 0, col, np);
          col2im(col, dx, xOff, cig, g, r0, rows);
        } else {
          sgemm(true, false, k, np, cog, 1, wg, k, gy, p, 0, dx.subarray(xOff), p);
        }
      }
    }
  }
}

export function conv2dBackwardFilter(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const pointwise = isPointwise(g);
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : new Float32Array(k * band * ow);
  for (let gi = 0; gi < groups; gi++) {
    const dwg = dw.subarray(gi * cog * k);
    let beta = 0;
    for (let b = 0; b < n; b++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        const gy = dy.subarray(yOff + r0 * ow);
        if (col) {
          im2col(x, xOff, cig, g, r0, rows, col);
          sgemm(false, true, cog, k, np, 1, gy, p, col, np, beta, dwg, k);
        } else {
          sgemm(false, true, cog, k, np, 1, gy, p, x.subarray(xOff), p, beta, dwg, k);
        }
        beta = 1;
      }
    }
  }
}
