// CPU kernels for maps, broadcasting binary ops, strided copies and sums. Loops are written
// per op with the switch outside the loop so V8 keeps each one monomorphic; N-d walks step
// an index counter over every axis but the last and run the last axis as a flat loop. Each
// kernel does a part [lo, hi) of its items (elements for maps and walks, slices of the
// outermost kept axis for sums), so threads.ts can split it.

import type { BinaryOp, UnaryOp } from "../backend.ts";

/** erf with fractional error < 1.2e-7 (Numerical Recipes' Chebyshev fit of erfc). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 +
            t * (0.37409196 +
                t * (0.09678418 +
                    t * (-0.18628806 +
                        t * (0.27886807 +
                            t *
                              (-1.13520398 +
                                t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export function unary(
  op: UnaryOp,
  x: Float32Array,
  y: Float32Array,
  a: number,
  b: number,
  lo = 0,
  hi = y.length,
): void {
  switch (op) {
    case "affine":
      for (let i = lo; i < hi; i++) y[i] = x[i] * a + b;
      break;
    case "exp":
      for (let i = lo; i < hi; i++) y[i] = Math.exp(x[i]);
      break;
    case "log":
      for (let i = lo; i < hi; i++) y[i] = Math.log(x[i]);
      break;
    case "sqrt":
      for (let i = lo; i < hi; i++) y[i] = Math.sqrt(x[i]);
      break;
    case "abs":
      for (let i = lo; i < hi; i++) y[i] = Math.abs(x[i]);
      break;
    case "pow":
      for (let i = lo; i < hi; i++) y[i] = Math.pow(x[i], a);
      break;
    case "clamp":
      for (let i = lo; i < hi; i++) y[i] = Math.min(Math.max(x[i], a), b);
      break;
    case "relu":
      for (let i = lo; i < hi; i++) y[i] = x[i] > 0 ? x[i] : 0;
      break;
    case "leakyRelu":
      for (let i = lo; i < hi; i++) y[i] = x[i] > 0 ? x[i] : x[i] * a;
      break;
    case "sigmoid":
      for (let i = lo; i < hi; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
      break;
    case "tanh":
      for (let i = lo; i < hi; i++) y[i] = Math.tanh(x[i]);
      break;
    case "gelu":
      for (let i = lo; i < hi; i++) y[i] = 0.5 * x[i] * (1 + erf(x[i] * SQRT1_2));
      break;
    case "silu":
      for (let i = lo; i < hi; i++) y[i] = x[i] / (1 + Math.exp(-x[i]));
      break;
  }
}

export function unaryBackward(
  op: UnaryOp,
  x: Float32Array,
  y: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  a: number,
  b: number,
  lo = 0,
  hi = dx.length,
): void {
  switch (op) {
    case "affine":
      for (let i = lo; i < hi; i++) dx[i] = g[i] * a;
      break;
    case "exp":
      for (let i = lo; i < hi; i++) dx[i] = g[i] * y[i];
      break;
    case "log":
      for (let i = lo; i < hi; i++) dx[i] = g[i] / x[i];
      break;
    case "sqrt":
      for (let i = lo; i < hi; i++) dx[i] = g[i] / (2 * y[i]);
      break;
    case "abs":
      for (let i = lo; i < hi; i++) dx[i] = x[i] > 0 ? g[i] : x[i] < 0 ? -g[i] : 0;
      break;
    case "pow":
      if (a === 0) dx.fill(0, lo, hi);
      else for (let i = lo; i < hi; i++) dx[i] = g[i] * a * Math.pow(x[i], a - 1);
      break;
    case "clamp":
      for (let i = lo; i < hi; i++) dx[i] = x[i] >= a && x[i] <= b ? g[i] : 0;
      break;
    case "relu":
      for (let i = lo; i < hi; i++) dx[i] = y[i] > 0 ? g[i] : 0;
      break;
    case "leakyRelu":
      for (let i = lo; i < hi; i++) dx[i] = x[i] > 0 ? g[i] : g[i] * a;
      break;
    case "sigmoid":
      for (let i = lo; i < hi; i++) dx[i] = g[i] * y[i] * (1 - y[i]);
      break;
    case "tanh":
      for (let i = lo; i < hi; i++) dx[i] = g[i] * (1 - y[i] * y[i]);
      break;
    case "gelu":
      for (let i = lo; i < hi; i++) {
        const v = x[i];
        dx[i] = g[i] * (0.5 * (1 + erf(v * SQRT1_2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
      }
      break;
    case "silu":
      for (let i = lo; i < hi; i++) {
        const s = 1 / (1 + Math.exp(-x[i]));
        dx[i] = g[i] * s * (1 + x[i] * (1 - s));
      }
      break;
  }
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Walks elements [lo, hi) of `shape` in row-major order, a run of the last axis at a time
 * (the first and last runs may be partial): run(j0, n, offsets) covers last-axis indices
 * [j0, j0 + n) of the row whose first element sits at `offsets` (one per stride list).
 */
function walkRuns(
  shape: readonly number[],
  strides: (readonly number[])[],
  lo: number,
  hi: number,
  run: (j0: number, n: number, at: number, off: number[]) => void,
): void {
  const r = shape.length, inner = shape[r - 1];
  const idx = new Int32Array(r), off = strides.map(() => 0);
  let row = Math.floor(lo / inner);
  for (let ax = r - 2; ax >= 0 && row > 0; ax--) {
    idx[ax] = row % shape[ax];
    row = Math.floor(row / shape[ax]);
    strides.forEach((st, k) => off[k] += idx[ax] * st[ax]);
  }
  for (let at = lo; at < hi;) {
    const j0 = at % inner, n = Math.min(inner - j0, hi - at);
    run(j0, n, at, off);
    at += n;
    for (let ax = r - 2; ax >= 0; ax--) {
      strides.forEach((st, k) => off[k] += st[ax]);
      if (++idx[ax] < shape[ax]) break;
      strides.forEach((st, k) => off[k] -= st[ax] * shape[ax]);
      idx[ax] = 0;
    }
  }
}

export function copy(
  shape: readonly number[],
  src: Float32Array,
  srcOff: number,
  srcStrides: readonly number[],
  dst: Float32Array,
  dstOff: number,
  dstStrides: readonly number[],
  lo = 0,
  hi = sizeOf(shape),
): void {
  const r = shape.length;
  if (hi <= lo) return;
  if (r === 0) {
    dst[dstOff] = src[srcOff];
    return;
  }
  const si = srcStrides[r - 1], di = dstStrides[r - 1];
  walkRuns(shape, [srcStrides, dstStrides], lo, hi, (j0, n, _, [os, od]) => {
    const s = srcOff + os + j0 * si, d = dstOff + od + j0 * di;
    if (si === 1 && di === 1 && n >= 16) dst.set(src.subarray(s, s + n), d);
    else if (si === 0 && di === 1) dst.fill(src[s], d, d + n);
    else for (let j = 0; j < n; j++) dst[d + j * di] = src[s + j * si];
  });
}

/** One row of a binary op: out[o..o+n) = a[ia + j*sa] op b[ib + j*sb]. */
function binaryRow(
  op: BinaryOp,
  n: number,
  a: Float32Array,
  ia: number,
  sa: number,
  b: Float32Array,
  ib: number,
  sb: number,
  out: Float32Array,
  o: number,
): void {
  switch (op) {
    case "add":
      if (sa === 1 && sb === 1) { for (let j = 0; j < n; j++) out[o + j] = a[ia + j] + b[ib + j]; }
      else if (sb === 0) {
        const v = b[ib];
        for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] + v;
      } else for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] + b[ib + j * sb];
      break;
    case "sub":
      if (sa === 1 && sb === 1) { for (let j = 0; j < n; j++) out[o + j] = a[ia + j] - b[ib + j]; }
      else if (sb === 0) {
        const v = b[ib];
        for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] - v;
      } else for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] - b[ib + j * sb];
      break;
    case "mul":
      if (sa === 1 && sb === 1) { for (let j = 0; j < n; j++) out[o + j] = a[ia + j] * b[ib + j]; }
      else if (sb === 0) {
        const v = b[ib];
        for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] * v;
      } else for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] * b[ib + j * sb];
      break;
    case "div":
      if (sa === 1 && sb === 1) { for (let j = 0; j < n; j++) out[o + j] = a[ia + j] / b[ib + j]; }
      else if (sb === 0) {
        const v = b[ib];
        for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] / v;
      } else for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] / b[ib + j * sb];
      break;
  }
}

export function binary(
  op: BinaryOp,
  shape: readonly number[],
  a: Float32Array,
  aStrides: readonly number[],
  b: Float32Array,
  bStrides: readonly number[],
  out: Float32Array,
  lo = 0,
  hi = sizeOf(shape),
): void {
  const r = shape.length;
  if (hi <= lo) return;
  if (r === 0) {
    binaryRow(op, 1, a, 0, 1, b, 0, 1, out, 0);
    return;
  }
  const sa = aStrides[r - 1], sb = bStrides[r - 1];
  walkRuns(shape, [aStrides, bStrides], lo, hi, (j0, n, at, [ia, ib]) => {
    binaryRow(op, n, a, ia + j0 * sa, sa, b, ib + j0 * sb, sb, out, at);
  });
}

/**
 * A sum over flagged axes of a contiguous tensor, as reduceSum runs it: adjacent axes with
 * the same flag merged, and the outermost kept axis as the one split between threads
 * (`items` slices; 1 when nothing is kept). Outputs of different slices are disjoint.
 */
export function reducePlan(shape: readonly number[], reduce: readonly boolean[]) {
  const dims: number[] = [], red: boolean[] = [];
  shape.forEach((d, ax) => {
    if (d === 1) return;
    if (red.length && red[red.length - 1] === reduce[ax]) dims[dims.length - 1] *= d;
    else {
      dims.push(d);
      red.push(reduce[ax]);
    }
  });
  if (dims.length === 0) {
    dims.push(1);
    red.push(false);
  }
  const split = red.indexOf(false);
  return { dims, red, items: split < 0 ? 1 : dims[split] };
}

/**
 * Sums over flagged axes (of a reducePlan's merged shape), slices [lo, hi) of its split
 * axis, accumulating in float64 so long reductions stay exact to f32.
 */
export function reduceSum(
  x: Float32Array,
  dims: readonly number[],
  red: readonly boolean[],
  out: Float32Array,
  lo: number,
  hi: number,
): void {
  const r = dims.length, split = red.indexOf(false);
  // Strides of x and of the output (0 on reduced axes).
  const xs = new Array<number>(r), os = new Array<number>(r).fill(0);
  let xst = 1, ost = 1;
  for (let ax = r - 1; ax >= 0; ax--) {
    xs[ax] = xst;
    xst *= dims[ax];
    if (!red[ax]) {
      os[ax] = ost;
      ost *= dims[ax];
    }
  }
  // This part: the split axis cut to [lo, hi).
  const shape = [...dims];
  let x0 = 0, o0 = 0;
  if (split >= 0) {
    shape[split] = hi - lo;
    x0 = lo * xs[split];
    o0 = lo * os[split];
  }
  const outN = split >= 0 ? (hi - lo) * os[split] : 1;
  const acc = new Float64Array(outN);
  const inner = shape[r - 1], innerReduced = red[r - 1];
  const idx = new Int32Array(r);
  const rows = sizeOf(shape) / inner;
  let i = x0, o = 0;
  for (let row = 0; row < rows; row++) {
    if (innerReduced) {
      let s = 0;
      for (let j = 0; j < inner; j++) s += x[i + j];
      acc[o] += s;
    } else for (let j = 0; j < inner; j++) acc[o + j] += x[i + j];
    for (let ax = r - 2; ax >= 0; ax--) {
      i += xs[ax];
      o += os[ax];
      if (++idx[ax] < shape[ax]) break;
      i -= xs[ax] * shape[ax];
      o -= os[ax] * shape[ax];
      idx[ax] = 0;
    }
  }
  for (let k = 0; k < outN; k++) out[o0 + k] = acc[k];
}
