// The TypeScript kernels threads.ts can split, by name: each runs items [lo, hi) over float
// buffers and a list of numbers. A kernel's parameters are packed by the `…Params` helper
// beside its entry (used by backend.ts) and unpacked here, in the worker as on the caller.

import {
  type AdamStep,
  BINARY_OPS,
  type BinaryOp,
  type LayerNormGeometry,
  type PoolGeometry,
  type ResampleGeometry,
  UNARY_OPS,
  type UnaryOp,
} from "../backend.ts";
import { adam } from "./adam.ts";
import { binary, copy, reduceSum, unary, unaryBackward } from "./elementwise.ts";
import { layerNorm, layerNormBackwardData, layerNormBackwardWeights } from "./layer_norm.ts";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pool.ts";
import { resample, resampleBackward, resampleNhwc, resampleNhwcBackward } from "./resample.ts";
import { softmax, softmaxBackward } from "./softmax.ts";

type Task = (b: Float32Array[], p: readonly number[], lo: number, hi: number) => void;

/** [rank, ...shape, ...strides of each operand] */
export const walkParams = (shape: readonly number[], ...strides: (readonly number[])[]) => [
  shape.length,
  ...shape,
  ...strides.flat(),
];
const walk = (p: readonly number[], from: number, operands: number) => {
  const r = p[from];
  const at = (k: number) => p.slice(from + 1 + k * r, from + 1 + (k + 1) * r);
  return { shape: at(0), strides: Array.from({ length: operands }, (_, k) => at(k + 1)) };
};

export const poolParams = (g: PoolGeometry) => [g.planes, g.h, g.w, g.oh, g.ow, g.k, g.stride];
const pool = (p: readonly number[]): PoolGeometry => ({
  planes: p[0],
  h: p[1],
  w: p[2],
  oh: p[3],
  ow: p[4],
  k: p[5],
  stride: p[6],
});

export const resampleParams = (g: ResampleGeometry) => [
  g.mode === "nearest" ? 1 : 0,
  g.planes,
  g.h,
  g.w,
  g.oh,
  g.ow,
];
const resampling = (p: readonly number[]): ResampleGeometry => ({
  mode: p[0] ? "nearest" : "bilinear",
  planes: p[1],
  h: p[2],
  w: p[3],
  oh: p[4],
  ow: p[5],
});

export const layerNormParams = (g: LayerNormGeometry) => [g.n, g.c, g.hw, g.eps];
const norm = (p: readonly number[]): LayerNormGeometry => ({
  n: p[0],
  c: p[1],
  hw: p[2],
  eps: p[3],
});

export const adamParams = (s: AdamStep) => [
  s.lr,
  s.beta1,
  s.beta2,
  s.eps,
  s.weightDecay,
  s.bias1,
  s.bias2,
];

/** A unary or binary op as the number the tasks carry. */
export const opIndex = (op: UnaryOp | BinaryOp) =>
  (BINARY_OPS as readonly string[]).includes(op)
    ? BINARY_OPS.indexOf(op as BinaryOp)
    : UNARY_OPS.indexOf(op as UnaryOp);

const table = {
  fill: ([d], [v], lo, hi) => void d.fill(v, lo, hi),
  /** [op, a, b] over elements */
  unary: ([x, y], [op, a, b], lo, hi) => unary(UNARY_OPS[op], x, y, a, b, lo, hi),
  unaryBackward: ([x, y, g, dx], [op, a, b], lo, hi) =>
    unaryBackward(UNARY_OPS[op], x, y, g, dx, a, b, lo, hi),
  /** [op, walkParams(shape, aStrides, bStrides)] over elements */
  binary: ([a, b, out], p, lo, hi) => {
    const { shape, strides: [as, bs] } = walk(p, 1, 2);
    binary(BINARY_OPS[p[0]], shape, a, as, b, bs, out, lo, hi);
  },
  /** [srcOff, dstOff, walkParams(shape, srcStrides, dstStrides)] over elements */
  copy: ([src, dst], p, lo, hi) => {
    const { shape, strides: [ss, ds] } = walk(p, 2, 2);
    copy(shape, src, p[0], ss, dst, p[1], ds, lo, hi);
  },
  /** [rank, ...dims, ...reduced flags] of a reducePlan, over slices of its split axis */
  reduceSum: ([x, out], p, lo, hi) => {
    const r = p[0];
    reduceSum(x, p.slice(1, 1 + r), p.slice(1 + r, 1 + 2 * r).map(Boolean), out, lo, hi);
  },
  /** [cols] over rows */
  softmax: ([x, y], [cols], lo, hi) => softmax(x, y, cols, lo, hi),
  softmaxBackward: ([y, g, dx], [cols], lo, hi) => softmaxBackward(y, g, dx, cols, lo, hi),
  /** layerNormParams + [has bias] over pixels */
  layerNorm: ([x, w, b, y, mean, rstd], p, lo, hi) =>
    layerNorm(norm(p), x, w, p[4] ? b : null, y, mean, rstd, lo, hi),
  /** layerNormParams + [bias-free] over pixels */
  layerNormBackwardData: ([x, w, mean, rstd, g, dx], p, lo, hi) =>
    layerNormBackwardData(norm(p), x, w, mean, rstd, g, dx, p[4] === 1, lo, hi),
  /** layerNormParams + [has db] over channels */
  layerNormBackwardWeights: ([x, mean, rstd, g, dw, db], p, lo, hi) =>
    layerNormBackwardWeights(norm(p), x, mean, rstd, g, dw, p[4] ? db : null, lo, hi),
  /** poolParams over planes */
  avgPool2d: ([x, y], p, lo, hi) => avgPool2d(pool(p), x, y, lo, hi),
  avgPool2dBackward: ([g, dx], p, lo, hi) => avgPool2dBackward(pool(p), g, dx, lo, hi),
  maxPool2d: ([x, y, am], p, lo, hi) => maxPool2d(pool(p), x, y, am, lo, hi),
  maxPool2dBackward: ([g, am, dx], p, lo, hi) => maxPool2dBackward(pool(p), g, am, dx, lo, hi),
  /** resampleParams; the forward over output rows, the backward over planes */
  resample: ([x, y], p, lo, hi) => resample(resampling(p), x, y, lo, hi),
  resampleBackward: ([g, dx], p, lo, hi) => resampleBackward(resampling(p), g, dx, lo, hi),
  /** resampleParams of the images (planes = n) + [channels]; as above */
  resampleNhwc: ([x, y], p, lo, hi) => resampleNhwc(resampling(p), p[6], x, y, lo, hi),
  resampleNhwcBackward: ([g, dx], p, lo, hi) =>
    resampleNhwcBackward(resampling(p), p[6], g, dx, lo, hi),
  /** adamParams over elements */
  adam: ([p, g, m, v], s, lo, hi) =>
    adam(
      p,
      g,
      m,
      v,
      {
        lr: s[0],
        beta1: s[1],
        beta2: s[2],
        eps: s[3],
        weightDecay: s[4],
        bias1: s[5],
        bias2: s[6],
      },
      lo,
      hi,
    ),
} satisfies Record<string, Task>;

export type TaskName = keyof typeof table;
export const TASKS = Object.keys(table) as TaskName[];

export function runTask(
  index: number,
  bufs: Float32Array[],
  params: readonly number[],
  lo: number,
  hi: number,
): void {
  (table[TASKS[index]] as Task)(bufs, params, lo, hi);
}
