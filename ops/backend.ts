// The device interface: a small set of primitive kernels. Every op in ops/ is written once
// on top of these; a new device is one implementation of this interface (ops/cpu/ is the
// reference that others are checked against). Buffers hold float32 elements, or bfloat16
// on a backend that says `bf16` (ops/precision.ts decides which tensors are bf16): such a
// backend takes either dtype for any buffer of any primitive, converting where it must, and
// writes each output in its buffer's dtype. Offsets, strides and sizes are in elements.
// Output buffers are contiguous unless strides are given.

/** Element types of device buffers. */
export type DType = "float32" | "bfloat16";

/** Opaque device memory; `length` is its element count. */
export interface DeviceBuffer {
  readonly length: number;
}

/**
 * Elementwise maps with up to two scalar parameters `a`, `b`. The one list every backend
 * builds its kernels from (ops/cuda/kernels.ts indexes it), so the two cannot drift.
 */
export const UNARY_OPS = [
  "affine", // x*a + b  (scalar add/sub/mul/div, neg)
  "exp",
  "log",
  "sqrt",
  "abs",
  "pow", // x^a
  "clamp", // min(max(x, a), b)
  "relu",
  "leakyRelu", // slope a
  "sigmoid",
  "tanh",
  "gelu", // erf form
  "silu", // x·sigmoid(x)
] as const;
export type UnaryOp = typeof UNARY_OPS[number];

/**
 * An activation fused into a conv's output (oneDNN/cuDNN post-op style). Only those whose
 * derivative is a function of the output, so the backward needs no pre-activation copy.
 */
export interface Activation {
  op: "relu" | "leakyRelu" | "sigmoid";
  /** LeakyReLU's slope (≥ 0). */
  slope?: number;
}

/** Binary ops, in the order backends index them (CUDA's kernel switch, the CPU's tasks). */
export const BINARY_OPS = ["add", "sub", "mul", "div"] as const;
export type BinaryOp = typeof BINARY_OPS[number];

export interface Conv2dGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilH: number;
  dilW: number;
  groups: number;
}

export interface PoolGeometry {
  /** N*C planes */
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  k: number;
  stride: number;
}

export type ResampleMode = "bilinear" | "nearest";

/** Resizing planes [planes, h, w] → [planes, oh, ow]. */
export interface ResampleGeometry {
  mode: ResampleMode;
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
}

/** Layer norm over the channel axis of [n, c, hw], at every pixel. */
export interface LayerNormGeometry {
  n: number;
  c: number;
  hw: number;
  eps: number;
}

/** One operand of a batched GEMM: row-major, leading dimension `ld`, matrix b at off + b·stride. */
export interface GemmOperand {
  buf: DeviceBuffer;
  off: number;
  ld: number;
  stride: number;
}

/** C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b] for b < batch; op(A) is m×k, op(B) k×n. */
export interface Gemm {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  batch: number;
  alpha: number;
  beta: number;
  a: GemmOperand;
  b: GemmOperand;
  c: GemmOperand;
}

export interface AdamStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t */
  bias1: number;
  bias2: number;
}

export interface Backend {
  readonly name: string;
  /**
   * Holds bfloat16 buffers and computes in bf16 where one is involved (conv and GEMM with
   * fp32 accumulation; see ops/precision.ts). Absent: float32 only.
   */
  readonly bf16?: boolean;

  /** n elements, uninitialised (every op writes all of its outputs); bfloat16 only if `bf16`. */
  alloc(n: number, dtype?: DType): DeviceBuffer;
  free(buf: DeviceBuffer): void;
  /** Values are rounded to the buffer's dtype; download widens them back to float32. */
  upload(dst: DeviceBuffer, src: Float32Array): void;
  download(src: DeviceBuffer): Float32Array;
  fill(dst: DeviceBuffer, value: number): void;

  /** dst[dstOff + Σ i_d*dstStrides_d] = src[srcOff + Σ i_d*srcStrides_d] over `shape`. */
  copy(
    shape: readonly number[],
    src: DeviceBuffer,
    srcOff: number,
    srcStrides: readonly number[],
    dst: DeviceBuffer,
    dstOff: number,
    dstStrides: readonly number[],
  ): void;

  unary(op: UnaryOp, x: DeviceBuffer, out: DeviceBuffer, a: number, b: number): void;
  /** dx = g * d(op)/dx, given input x and output y of the forward. */
  unaryBackward(
    op: UnaryOp,
    x: DeviceBuffer,
    y: DeviceBuffer,
    g: DeviceBuffer,
    dx: DeviceBuffer,
    a: number,
    b: number,
  ): void;

  /** Broadcasting binary op: out (contiguous, `shape`) from a and b read with `strides` (0 = broadcast). */
  binary(
    op: BinaryOp,
    shape: readonly number[],
    a: DeviceBuffer,
    aStrides: readonly number[],
    b: DeviceBuffer,
    bStrides: readonly number[],
    out: DeviceBuffer,
  ): void;

  /** Sum over the axes flagged in `reduce`; out holds the kept axes, contiguous. */
  reduceSum(
    x: DeviceBuffer,
    shape: readonly number[],
    reduce: readonly boolean[],
    out: DeviceBuffer,
  ): void;

  gemm(p: Gemm): void;

  /** Softmax over rows of length `cols`. */
  softmax(x: DeviceBuffer, y: DeviceBuffer, rows: number, cols: number): void;
  softmaxBackward(
    y: DeviceBuffer,
    g: DeviceBuffer,
    dx: DeviceBuffer,
    rows: number,
    cols: number,
  ): void;

  /**
   * Writes y and the per-pixel mean and 1/sqrt(var+eps) for the backward. Without a bias it
   * is Restormer's BiasFree variant: x·rstd·w (the variance is still about the mean, but x
   * is not centred).
   */
  layerNorm(
    geo: LayerNormGeometry,
    x: DeviceBuffer,
    w: DeviceBuffer,
    b: DeviceBuffer | null,
    y: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
  ): void;
  /** Overwrites dx, dw and db. */
  layerNormBackward(
    geo: LayerNormGeometry,
    x: DeviceBuffer,
    w: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    g: DeviceBuffer,
    dx: DeviceBuffer,
    dw: DeviceBuffer,
    db: DeviceBuffer | null,
  ): void;

  /** y = act(conv(x, w) + bias) + add, where `add` has y's shape (a fused residual). */
  conv2d(
    geo: Conv2dGeometry,
    x: DeviceBuffer,
    w: DeviceBuffer,
    bias: DeviceBuffer | null,
    y: DeviceBuffer,
    act: Activation | null,
    add: DeviceBuffer | null,
  ): void;
  conv2dBackwardData(geo: Conv2dGeometry, g: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer): void;
  /**
   * Overwrites dw with the filter gradient and, when given, db with the bias gradient (g
   * summed over n, h, w: one pass over g, as cuDNN and oneDNN compute it beside dw).
   */
  conv2dBackwardFilter(
    geo: Conv2dGeometry,
    x: DeviceBuffer,
    g: DeviceBuffer,
    dw: DeviceBuffer,
    db: DeviceBuffer | null,
  ): void;

  avgPool2d(geo: PoolGeometry, x: DeviceBuffer, y: DeviceBuffer): void;
  avgPool2dBackward(geo: PoolGeometry, g: DeviceBuffer, dx: DeviceBuffer): void;
  /** Max pooling; `argmax` receives each output's flat input index within its plane. */
  maxPool2d(geo: PoolGeometry, x: DeviceBuffer, y: DeviceBuffer, argmax: DeviceBuffer): void;
  maxPool2dBackward(
    geo: PoolGeometry,
    g: DeviceBuffer,
    argmax: DeviceBuffer,
    dx: DeviceBuffer,
  ): void;

  /** Bilinear uses align_corners=false; nearest uses PyTorch's floor(dst · in/out). */
  resample(geo: ResampleGeometry, x: DeviceBuffer, y: DeviceBuffer): void;
  resampleBackward(geo: ResampleGeometry, g: DeviceBuffer, dx: DeviceBuffer): void;

  /** In-place Adam update of p with moments m, v (PyTorch semantics, L2 weight decay). */
  adam(p: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, step: AdamStep): void;
}
