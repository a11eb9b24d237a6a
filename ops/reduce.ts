// Sums and means over axes.  x [...] → out with the reduced axes dropped (or kept as 1).
//   d sum / dx = g broadcast back;  d mean / dx = g broadcast back / count

import { affine } from "./arith.ts";
import { record } from "./autograd.ts";
import { expand, reshape } from "./layout.ts";
import { toDtype } from "./precision.ts";
import { axisOf } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

function reduceScaled(
  op: string,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  keepDims: boolean,
  mean: boolean,
): Tensor {
  const reduce = x.shape.map(() => axes === undefined);
  if (axes !== undefined) {
    for (const a of typeof axes === "number" ? [axes] : axes) {
      reduce[axisOf(op, a, x.rank)] = true;
    }
  }
  const kept = x.shape.map((d, i) => (reduce[i] ? 1 : d));
  const count = x.shape.reduce((n, d, i) => (reduce[i] ? n * d : n), 1);
  const scale = mean ? 1 / count : 1;
  // fp32 out whatever x's dtype (ops/precision.ts): sums are where rounding accumulates.
  const out = empty(keepDims ? kept : x.shape.filter((_, i) => !reduce[i]), x, "float32");
  x.backend.reduceSum(x.buffer, x.shape, reduce, out.buffer);
  if (scale !== 1) x.backend.unary("affine", out.buffer, out.buffer, scale, 0);
  return record(out, op, [x], (g) => {
    // Scaled and put in x's dtype while small, then broadcast: one pass over dx.
    const gs = scale !== 1 ? affine(g, scale, 0) : g, gd = toDtype(gs, x.dtype);
    const gk = reshape(gd, kept);
    const dx = expand(gk, x.shape);
    for (const t of new Set([gk, gd, gs])) if (t !== g) t.dispose();
    return [dx];
  }, []);
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceScaled("sum", x, axes, keepDims, false);
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceScaled("mean", x, axes, keepDims, true);
}
