// Layer norm across channels at each pixel of x [n, c, hw] (Restormer's LayerNorm on NCHW).
// With bias:  y = (x - μ)·r·w + b      Bias-free: y = x·r·w      r = 1/sqrt(var + eps)
// Loops run channel-outer, pixel-inner so every inner loop is contiguous.

import type { LayerNormGeometry } from "../backend.ts";

export function layerNorm(
  { n, c, hw, eps }: LayerNormGeometry,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
): void {
  const s1 = new Float64Array(hw), s2 = new Float64Array(hw);
  for (let bi = 0; bi < n; bi++) {
    const base = bi * c * hw;
    s1.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw;
      for (let p = 0; p < hw; p++) s1[p] += x[o + p];
    }
    for (let p = 0; p < hw; p++) s1[p] /= c;
    s2.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw;
      for (let p = 0; p < hw; p++) {
        const d = x[o + p] - s1[p];
        s2[p] += d * d;
      }
    }
    const mo = bi * hw;
    for (let p = 0; p < hw; p++) {
      mean[mo + p] = s1[p];
      rstd[mo + p] = 1 / Math.sqrt(s2[p] / c + eps);
    }
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      if (b) {
        const bc = b[ci];
        for (let p = 0; p < hw; p++) y[o + p] = (x[o + p] - s1[p]) * rstd[mo + p] * wc + bc;
      } else {
        for (let p = 0; p < hw; p++) y[o + p] = x[o + p] * rstd[mo + p] * wc;
      }
    }
  }
}

/**
 * With bias:  x̂ = (x-μ)r, dx = r(ĝ - mean(ĝ) - x̂·mean(ĝx̂)), ĝ = g·w
 * Bias-free:  dx = r·ĝ - r³(x-μ)·mean(ĝ·x)
 * dw = Σ g·x̂ (x̂ = x·r when bias-free), db = Σ g; `db` null selects the bias-free form.
 */
export function layerNormBackward(
  { n, c, hw }: LayerNormGeometry,
  x: Float32Array,
  w: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array | null,
): void {
  const a1 = new Float64Array(hw), a2 = new Float64Array(hw);
  const dwAcc = new Float64Array(c), dbAcc = new Float64Array(c);
  for (let bi = 0; bi < n; bi++) {
    const base = bi * c * hw, mo = bi * hw;
    a1.fill(0);
    a2.fill(0);
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      let sw = 0, sb = 0;
      for (let p = 0; p < hw; p++) {
        const gv = g[o + p];
        const xc = db ? (x[o + p] - mean[mo + p]) * rstd[mo + p] : x[o + p] * rstd[mo + p];
        sw += gv * xc;
        sb += gv;
        const gh = gv * wc;
        if (db) {
          a1[p] += gh;
          a2[p] += gh * xc;
        } else {
          a2[p] += gh * x[o + p];
        }
      }
      dwAcc[ci] += sw;
      dbAcc[ci] += sb;
    }
    for (let ci = 0; ci < c; ci++) {
      const o = base + ci * hw, wc = w[ci];
      for (let p = 0; p < hw; p++) {
        const r = rstd[mo + p];
        const gh = g[o + p] * wc;
        if (db) {
          const xh = (x[o + p] - mean[mo + p]) * r;
          dx[o + p] = r * (gh - a1[p] / c - xh * (a2[p] / c));
        } else {
          dx[o + p] = r * gh - r * r * r * (x[o + p] - mean[mo + p]) * (a2[p] / c);
        }
      }
    }
  }
  for (let ci = 0; ci < c; ci++) dw[ci] = dwAcc[ci];
  if (db) { for (let ci = 0; ci < c; ci++) db[ci] = dbAcc[ci]; }
}
