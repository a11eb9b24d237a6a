// Sums and means over axes.  x [...] → out with the reduced axes dropped (or kept as 1).

import { record } from "./autograd.ts";
import { affine } from "./arith.ts";
import { expand, reshape } from "./layout.ts";
import { axisOf } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

function axesOf(op: string, x: Tensor, axes?: number | readonly number[]): boolean[] {
  const flags = x.shape.map(() => axes === undefined);
  if (axes !== undefined) {
    for (const a of typeof axes === "number" ? [axes] : axes) flags[axisOf(op, a, x.rank)] = true;
  }
  return flags;
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const reduce = axesOf("sum", x, axes);
  const kept = x.shape.map((d, i) => (reduce[i] ? 1 : d));
  const out = empty(keepDims ? kept : x.shape.filter((_, i) => !reduce[i]), x);
  x.backend.reduceSum(x.buffer, x.shape, reduce, out.buffer);
  return record(out, "sum", [x], (g) => {
    const gk = reshape(g, kept);
    const dx = expand(gk, x.shape);
    gk.dispose();
    return [dx];
  });
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const reduce = axesOf("mean", x, axes);
  const count = x.shape.reduce((n, d, i) => (reduce[i] ? n * d : n), 1);
  const s = sum(x, axes, keepDims);
  const out = affine(s, 1 / count, 0);
  s.dispose();
  return out;
}
