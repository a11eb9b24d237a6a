// The engine's public surface: tensors, autograd, memory scopes, RNG and every op.

export type { Backend, DeviceBuffer, DType } from "./backend.ts";
export { defaultDevice, getBackend, registerBackend, setDefaultDevice } from "./device.ts";
export {
  empty,
  full,
  ones,
  rand,
  randn,
  Tensor,
  tensor,
  type TensorOptions,
  zeros,
} from "./tensor.ts";
export { isGradEnabled, noGrad } from "./autograd.ts";
export {
  float32,
  getPrecision,
  type Precision,
  setPrecision,
  toDtype,
  withPrecision,
} from "./precision.ts";
export { keep, scope } from "./scope.ts";
export { defaultRng, manualSeed, Rng } from "./rng.ts";
export { fmt, type Shape, ShapeError, sizeOf } from "./shape.ts";
export { add, affine, div, mul, neg, sub, sumTo } from "./arith.ts";
export {
  abs,
  clamp,
  exp,
  gelu,
  leakyRelu,
  log,
  pow,
  relu,
  sigmoid,
  silu,
  sqrt,
  tanh,
} from "./unary.ts";
export { mean, sum } from "./reduce.ts";
export { softmax } from "./softmax.ts";
export { matmul } from "./matmul.ts";
export { conv2d, type Conv2dOptions } from "./conv.ts";
export { avgPool2d, globalAvgPool, maxPool2d } from "./pool.ts";
export { resize, upsample } from "./resample.ts";
export {
  chunk,
  concat,
  expand,
  pad,
  permute,
  pixelShuffle,
  pixelUnshuffle,
  reshape,
  slice,
  split,
  transpose,
} from "./layout.ts";
export { l2Normalize, layerNorm2d } from "./norm.ts";
export { l1Loss, mseLoss } from "./loss.ts";
