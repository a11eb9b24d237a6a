// Matrix products on the backend GEMM.
//   a [..., m, k] @ b [..., k, n] → [..., m, n]
// Batch axes must match, or one side may be a plain matrix shared by every batch entry.
//   da = g @ bᵀ,  db = aᵀ @ g  (summed over the batch when b was shared)

import { record } from "./autograd.ts";
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
function gemm(a: Tensor, b: Tensor, ta: boolean, tb: boolean): Tensor {
  const backend = sameDevice("matmul", a, b);
  const p = plan(a, b, ta, tb);
  const c = empty(p.shape, a);
  const aMat = a.shape.at(-1)! * a.shape.at(-2)!, bMat = b.shape.at(-1)! * b.shape.at(-2)!;
  const sharedA = a.rank === 2 && p.batch > 1, sharedB = b.rank === 2 && p.batch > 1;
  backend.gemm(
    ta,
    tb,
    p.m,
    p.n,
    p.k,
    1,
    a.buffer,
    0,
    a.shape.at(-1)!,
    sharedA ? 0 : aMat,
    b.buffer,
    0,
    b.shape.at(-1)!,
    sharedB ? 0 : bMat,
    0,
    c.buffer,
    0,
    p.n,
    p.m * p.n,
    p.batch,
  );
  return c;
}

/** Folds a [batch, r, c] product into [r, c] by summing over the batch. */
function sumBatch(t: Tensor, r: number, c: number): Tensor {
  const out = empty([r, c], t);
  t.backend.reduceSum(t.buffer, [t.size / (r * c), r, c], [true, false, false], out.buffer);
  t.dispose();
  return out;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  const out = gemm(a, b, false, false);
  const p = plan(a, b, false, false);
  return record(out, "matmul", [a, b], (g, needs) => {
    let da: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      da = gemm(g, b, false, true);
      if (a.rank === 2 && p.batch > 1) da = sumBatch(da, p.m, p.k);
    }
    if (needs[1]) {
      db = gemm(a, g, true, false);
      if (b.rank === 2 && p.batch > 1) db = sumBatch(db, p.k, p.n);
    }
    return [da, db];
  });
}
