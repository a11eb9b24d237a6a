// Broadcasting arithmetic (add, sub, mul, div), scalar forms, and sumTo, which folds a
// broadcast gradient back onto the shape of the operand it came from.
//   a [..A], b [..B] → out [broadcast(A, B)]

import type { BinaryOp } from "./backend.ts";
import { record } from "./autograd.ts";
import {
  broadcastShapes,
  broadcastStrides,
  coalesce,
  contiguousStrides,
  sameShape,
  type Shape,
} from "./shape.ts";
import { promoteDtype } from "./precision.ts";
import { empty, sameDevice, type Tensor } from "./tensor.ts";

/** a op b, in fp32 when either is (ops/precision.ts). */
function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const backend = sameDevice(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = empty(shape, a, promoteDtype(a, b));
  const c = coalesce(
    shape,
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
    contiguousStrides(shape),
  );
  backend.binary(op, c.shape, a.buffer, c.strides[0], b.buffer, c.strides[1], out.buffer);
  return out;
}

/** x*a + b elementwise, with its backward g*a. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  const out = empty(x.shape, x);
  x.backend.unary("affine", x.buffer, out.buffer, a, b);
  return record(out, "affine", [x], (g) => [a === 1 ? g : affine(g, a, 0)], []);
}

/** Sums g over the axes along which `shape` was broadcast to g's shape. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  const reduce = g.shape.map((d, i) => i < off || (shape[i - off] === 1 && d !== 1));
  // The kept axes, in order, have shape's element layout (the others were 1 or leading).
  const out = empty(shape, g);
  g.backend.reduceSum(g.buffer, g.shape, reduce, out.buffer);
  return out;
}

/** sumTo for a temporary: frees t when a new tensor was made from it. */
function foldTo(t: Tensor, shape: Shape): Tensor {
  const r = sumTo(t, shape);
  if (r !== t) t.dispose();
  return r;
}

export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return affine(a, 1, b);
  const out = binaryRaw("add", a, b);
  return record(out, "add", [a, b], (g, needs) => [
    needs[0] ? sumTo(g, a.shape) : null,
    needs[1] ? sumTo(g, b.shape) : null,
  ], []);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return affine(a, 1, -b);
  const out = binaryRaw("sub", a, b);
  return record(out, "sub", [a, b], (g, needs) => [
    needs[0] ? sumTo(g, a.shape) : null,
    needs[1] ? foldTo(neg(g), b.shape) : null,
  ], []);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return affine(a, b, 0);
  const out = binaryRaw("mul", a, b);
  return record(out, "mul", [a, b], (g, needs) => [
    needs[0] ? foldTo(binaryRaw("mul", g, b), a.shape) : null,
    needs[1] ? foldTo(binaryRaw("mul", g, a), b.shape) : null,
  ], [a, b]);
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return affine(a, 1 / b, 0);
  const out = binaryRaw("div", a, b);
  return record(out, "div", [a, b], (g, needs) => [
    needs[0] ? foldTo(binaryRaw("div", g, b), a.shape) : null,
    needs[1] ? foldTo(divGradB(g, out, b), b.shape) : null,
  ], [b, out]);
}

export function neg(x: Tensor): Tensor {
  return affine(x, -1, 0);
}

/** d(a/b)/db · g = -g·(a/b)/b, before folding onto b's shape. */
function divGradB(g: Tensor, out: Tensor, b: Tensor): Tensor {
  const go = binaryRaw("mul", g, out);
  const q = binaryRaw("div", go, b);
  go.dispose();
  q.backend.unary("affine", q.buffer, q.buffer, -1, 0);
  return q;
}
