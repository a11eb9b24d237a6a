// Matrix products on the backend GEMM.
//   a [..., m, k] @ b [..., k, n] → [..., m, n]
// Batch axes must match, or one side may be a plain matrix shared by every batch entry.
//   da = g @ bᵀ,  db = aᵀ @ g  (summed over the batch when b was shared)

import type { DType } from "./backend.ts";
import { record } from "./autograd.ts";
import { lowerDtype } from "./precision.ts";
import { fmt, ShapeError, sizeOf } from "./shape.ts";
import { empty, sameDevice, type Tensor } from "./tensor.ts";

interface Plan {
  batch: number;
  m: number;
  n: number;
  k: number;
  shape: number[];
}

function plan(a: Tensor, b: Tensor, ta: boolean, tb: boolean): Plan {
  const bad = () =>
    new ShapeError(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} do not multiply`);
  if (a.rank < 2 || b.rank < 2) throw bad();
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = ta ? ac : ar, k = ta ? ar : ac, kb = tb ? bc : br, n = tb ? br : bc;
  if (k !== kb) throw bad();
  const ab = a.shape.slice(0, -2), bb = b.shape.slice(0, -2);
  let batchShape: number[];
  if (bb.length === 0) batchShape = ab;
  else if (ab.length === 0) batchShape = bb;
  else if (ab.length === bb.length && ab.every((d, i) => d === bb[i])) batchShape = ab;
  else throw bad();
  return { batch: sizeOf(batchShape), m, n, k, shape: [...batchShape, m, n] };
}

/** op(a) @ op(b) with optional transposes of the last two axes, no autograd. */
function gemm(a: Tensor, b: Tensor, ta: boolean, tb: boolean, dtype: DType): Tensor {
  const backend = sameDevice("matmul", a, b);
  const p = plan(a, b, ta, tb);
  const c = empty(p.shape, a, dtype);
  const aMat = a.shape.at(-1)! * a.shape.at(-2)!, bMat = b.shape.at(-1)! * b.shape.at(-2)!;
  const sharedA = a.rank === 2 && p.batch > 1, sharedB = b.rank === 2 && p.batch > 1;
  backend.gemm({
    transA: ta,
    transB: tb,
    m: p.m,
    n: p.n,
    k: p.k,
    batch: p.batch,
    alpha: 1,
    beta: 0,
    a: { buf: a.buffer, off: 0, ld: a.shape.at(-1)!, stride: sharedA ? 0 : aMat },
    b: { buf: b.buffer, off: 0, ld: b.shape.at(-1)!, stride: sharedB ? 0 : bMat },
    c: { buf: c.buffer, off: 0, ld: p.n, stride: p.m * p.n },
  });
  return c;
}

/** Folds a [batch, r, c] product into [r, c] by summing over the batch. */
function sumBatch(t: Tensor, r: number, c: number): Tensor {
  const out = empty([r, c], t);
  t.backend.reduceSum(t.buffer, [t.size / (r * c), r, c], [true, false, false], out.buffer);
  t.dispose();
  return out;
}

/**
 * op(a) @ op(b), where op transposes the last two axes when asked (no copy is made).
 *   C = op(A)·op(B):  dA = dC·op(B)ᵀ, or op(B)·dCᵀ when A was transposed;
 *                     dB = op(A)ᵀ·dC, or dCᵀ·op(A) when B was transposed.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  // bf16 out under bf16 precision (ops/precision.ts); each gradient in its operand's dtype.
  const out = gemm(a, b, transA, transB, lowerDtype(a.backend));
  const p = plan(a, b, transA, transB);
  return record(out, "matmul", [a, b], (g, needs) => {
    let da: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      da = transA ? gemm(b, g, transB, true, a.dtype) : gemm(g, b, false, !transB, a.dtype);
      if (a.rank === 2 && p.batch > 1) da = sumBatch(da, a.shape[0], a.shape[1]);
    }
    if (needs[1]) {
      db = transB ? gemm(g, a, true, transA, b.dtype) : gemm(a, g, !transA, false, b.dtype);
      if (b.rank === 2 && p.batch > 1) db = sumBatch(db, b.shape[0], b.shape[1]);
    }
    return [da, db];
  }, [a, b]);
}
