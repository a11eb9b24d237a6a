// Elementwise maps and activations. Each backward is one fused backend kernel that reads the
// saved input and/or output: dx = g · f'(x). exp, log, sqrt and pow work in fp32 (their
// inputs are widened under bf16 precision, ops/precision.ts); the rest keep x's dtype.
//   x [...] → y [...]

import type { UnaryOp } from "./backend.ts";
import { record } from "./autograd.ts";
import { float32 } from "./precision.ts";
import { empty, type Tensor } from "./tensor.ts";

function map(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  const y = empty(x.shape, x);
  x.backend.unary(op, x.buffer, y.buffer, a, b);
  return record(y, op, [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.unaryBackward(op, x.buffer, y.buffer, g.buffer, dx.buffer, a, b);
    return [dx];
  });
}

export const exp = (x: Tensor) => map("exp", float32(x));
export const log = (x: Tensor) => map("log", float32(x));
export const sqrt = (x: Tensor) => map("sqrt", float32(x));
export const abs = (x: Tensor) => map("abs", x);
/** x^p for a scalar exponent p. */
export const pow = (x: Tensor, p: number) => map("pow", float32(x), p);
/** Clamps to [min, max]; either bound may be omitted. The gradient passes where min ≤ x ≤ max. */
export const clamp = (x: Tensor, min = -Infinity, max = Infinity) => map("clamp", x, min, max);
export const relu = (x: Tensor) => map("relu", x);
/** PyTorch's default slope is 0.01. */
export const leakyRelu = (x: Tensor, slope = 0.01) => map("leakyRelu", x, slope);
export const sigmoid = (x: Tensor) => map("sigmoid", x);
export const tanh = (x: Tensor) => map("tanh", x);
/** GELU in its exact erf form (PyTorch's default, approximate='none'). */
export const gelu = (x: Tensor) => map("gelu", x);
/** SiLU (swish): x·sigmoid(x), one kernel and no sigmoid temporary. */
export const silu = (x: Tensor) => map("silu", x);
