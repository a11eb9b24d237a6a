// Layer norm across channels at each pixel of x [n, c, hw] (Restormer's LayerNorm on NCHW).
// With bias:  y = (x - μ)·r·w + b      Bias-free: y = x·r·w      r = 1/sqrt(var + eps)
// Loops run channel-outer, pixel-inner so every inner loop is contiguous. The forward and
// dx work on pixels [lo, hi) of all n·hw (each pixel's statistics are its own); dw and db,
// sums over every pixel, on channels [lo, hi).

import type { LayerNormGeometry } from "../backend.ts";

/** Calls fn(bi, p0, p1) for the runs of pixels [lo, hi) within each image. */
function pixelRuns(
  hw: number,
  lo: number,
  hi: number,
  fn: (bi: number, p0: number, p1: number) => void,
) {
  for (let bi = Math.floor(lo / hw); bi * hw < hi; bi++) {
    fn(bi, Math.max(lo - bi * hw, 0), Math.min(hi - bi * hw, hw));
  }
}

export function layerNorm(
  { c, hw, eps }: LayerNormGeometry,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  lo: number,
  hi: number,
): void {
  const s1 = new Float64Array(Math.min(hw, hi - lo)), s2 = new Float64Array(s1.length);
  pixelRuns(hw, lo, hi, (bi, p0, p1) => {
    const base = bi * c * hw + p0, m = p1 - p0;
    s1.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw;
      for (let p = 0; p < m; p++) s1[p] += x[o + p];
    }
    for (let p = 0; p < m; p++) s1[p] /= c;
    s2.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw;
      for (let p = 0; p < m; p++) {
        const d = x[o + p] - s1[p];
        s2[p] += d * d;
      }
    }
    const mo = bi * hw + p0;
    for (let p = 0; p < m; p++) {
      mean[mo + p] = s1[p];
      rstd[mo + p] = 1 / Math.sqrt(s2[p] / c + eps);
    }
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      if (b) {
        const bc = b[ci];
        for (let p = 0; p < m; p++) y[o + p] = (x[o + p] - s1[p]) * rstd[mo + p] * wc + bc;
      } else {
        for (let p = 0; p < m; p++) y[o + p] = x[o + p] * rstd[mo + p] * wc;
      }
    }
  });
}

/**
 * dx of pixels [lo, hi). With bias: x̂ = (x-μ)r, dx = r(ĝ - mean(ĝ) - x̂·mean(ĝx̂)), ĝ = g·w;
 * bias-free (`biasFree`): dx = r·ĝ - r³(x-μ)·mean(ĝ·x).
 */
export function layerNormBackwardData(
  { c, hw }: LayerNormGeometry,
  x: Float32Array,
  w: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  biasFree: boolean,
  lo: number,
  hi: number,
): void {
  const a1 = new Float64Array(Math.min(hw, hi - lo)), a2 = new Float64Array(a1.length);
  pixelRuns(hw, lo, hi, (bi, p0, p1) => {
    const base = bi * c * hw + p0, mo = bi * hw + p0, m = p1 - p0;
    a1.fill(0);
    a2.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      for (let p = 0; p < m; p++) {
        const gh = g[o + p] * wc;
        if (biasFree) a2[p] += gh * x[o + p];
        else {
          a1[p] += gh;
          a2[p] += gh * ((x[o + p] - mean[mo + p]) * rstd[mo + p]);
        }
      }
    }
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      for (let p = 0; p < m; p++) {
        const r = rstd[mo + p];
        const gh = g[o + p] * wc;
        if (biasFree) {
          dx[o + p] = r * gh - r * r * r * (x[o + p] - mean[mo + p]) * (a2[p] / c);
        } else {
          const xh = (x[o + p] - mean[mo + p]) * r;
          dx[o + p] = r * (gh - a1[p] / c - xh * (a2[p] / c));
        }
      }
    }
  });
}

/** dw = Σ g·x̂ (x̂ = x·r when bias-free) and db = Σ g of channels [lo, hi); db null: bias-free. */
export function layerNormBackwardWeights(
  { n, c, hw }: LayerNormGeometry,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  g: Float32Array,
  dw: Float32Array,
  db: Float32Array | null,
  lo: number,
  hi: number,
): void {
  for (let ci = lo; ci < hi; ci++) {
    let dwAcc = 0, dbAcc = 0;
    for (let bi = 0; bi < n; bi++) {
      const o = (bi * c + ci) * hw, mo = bi * hw;
      let sw = 0, sb = 0;
      for (let p = 0; p < hw; p++) {
        const gv = g[o + p];
        const xc = db ? (x[o + p] - mean[mo + p]) * rstd[mo + p] : x[o + p] * rstd[mo + p];
        sw += gv * xc;
        sb += gv;
      }
      dwAcc += sw;
      dbAcc += sb;
    }
    dw[ci] = dwAcc;
    if (db) db[ci] = dbAcc;
  }
}
