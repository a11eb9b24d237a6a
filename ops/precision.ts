// Mixed precision, as PyTorch's autocast does it on a CPU. Under bf16 precision, on a backend
// that computes in bfloat16 (Backend.bf16: oneDNN on a CPU with avx512_core_bf16 or AMX), the
// GEMM-shaped ops run in bf16 with fp32 accumulation and write bf16 tensors; what follows them
// stays bf16 until an op that needs fp32. On any other backend, or under fp32 precision,
// every tensor is float32 and nothing here changes a result.
//
// The policy, op by op (cf. torch.autocast's lists):
//   bf16 out:     conv2d (3×3, depthwise, 1×1; forward, backward-data, backward-weights),
//                 matmul (attention's products).
//   input dtype:  add, sub, mul, div and the scalar affine (fp32 when either input is),
//                 relu, leakyRelu, sigmoid, tanh, gelu, silu, abs, clamp, the layout ops
//                 (reshape, concat, slice, permute, pad, pixel (un)shuffle), pooling,
//                 resampling, softmax and channel layer norm (these two keep their
//                 statistics, the max and sum, the mean and variance, in fp32).
//   fp32 out:     sum and mean (so every loss), exp, log, pow, sqrt, l2Normalize; the
//                 loss's μ-law converts the network's output first (model/losses.ts).
//   fp32 scope:   the DDIM prior's denoising loop (model/lfdiff.ts): small tensors, slower
//                 in bf16.
// Gradients take their tensor's dtype (autograd converts), so parameters, their gradients
// and Adam's state stay fp32: a conv's weight gradient comes from a bf16 backward-weights
// that writes fp32. Inputs to the network are fp32, and so is its output Ĥ (model/dhrnet.ts
// converts its last conv's output before the sigmoid); the losses read it in fp32.

import type { Backend, DType } from "./backend.ts";
import { record } from "./autograd.ts";
import { empty, type Tensor } from "./tensor.ts";

export type Precision = "fp32" | "bf16";

let current: Precision = "fp32";

/** Sets the precision of the ops that follow (process-wide). */
export function setPrecision(p: Precision): void {
  current = p;
}

export function getPrecision(): Precision {
  return current;
}

/** Runs fn under precision p, then restores the previous one (torch.autocast's scope). */
export function withPrecision<T>(p: Precision, fn: () => T): T {
  const prev = current;
  current = p;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/** The dtype conv2d and matmul write on backend b under the current precision. */
export function lowerDtype(b: Backend): DType {
  return current === "bf16" && b.bf16 ? "bfloat16" : "float32";
}

/** float32 when any input is, else bfloat16: the dtype of an op that keeps its inputs'. */
export function promoteDtype(...ts: readonly Tensor[]): DType {
  return ts.every((t) => t.dtype === "bfloat16") ? "bfloat16" : "float32";
}

/** x in `dtype` (x itself when it already is), with the conversion back as its gradient. */
export function toDtype(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const y = empty(x.shape, x, dtype);
  x.backend.copy([x.size], x.buffer, 0, [1], y.buffer, 0, [1]);
  return record(y, "toDtype", [x], (g) => [toDtype(g, x.dtype)], []);
}

/** x in float32: the entry of every op on the fp32 list. */
export const float32 = (x: Tensor): Tensor => toDtype(x, "float32");
