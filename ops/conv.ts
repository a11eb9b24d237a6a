// 2-D convolution (cross-correlation, as PyTorch), with stride, padding, dilation, groups.
//   x [n, cin, h, w], weight [cout, cin/groups, kh, kw], bias [cout] → y [n, cout, oh, ow]
//   oh = floor((h + 2·pad − dil·(kh−1) − 1)/stride) + 1
// Forward, backward-data and backward-filter are the backend's three conv primitives (the
// cuDNN split); backward-filter also gives the bias gradient, a sum over n, h, w. An
// activation may be fused into the output (y = act(conv + bias), as oneDNN and cuDNN
// post-ops): it saves a full-size temporary, and its backward g·act'(·) is computed from y,
// so nothing else is kept. So may a residual of y's shape (y = conv + bias + add, a binary
// post-op): the pass reads it while writing y, where a separate add would read y back and
// write it again; its gradient is y's. oneDNN 2.6.3 runs such a pass on its older jit
// kernels, not brgconv: measured 5% slower at 60 channels of 384×512 (where the add it saves
// costs more), 25% on the prior's 42–84-channel maps of 96×128 and less, which keep an add.

import type { Activation, Conv2dGeometry } from "./backend.ts";
import { add as addTensors } from "./arith.ts";
import { record } from "./autograd.ts";
import { fmt, sameShape, ShapeError } from "./shape.ts";
import { lowerDtype } from "./precision.ts";
import { empty, sameDevice, type Tensor } from "./tensor.ts";

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
  /** Fused output activation. */
  activation?: Activation;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === "number" ? [v, v] : v;

export function conv2dGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  o: Conv2dOptions,
): Conv2dGeometry {
  const [strideH, strideW] = pair(o.stride, 1);
  const [padH, padW] = pair(o.padding, 0);
  const [dilH, dilW] = pair(o.dilation, 1);
  const groups = o.groups ?? 1;
  const where = `conv2d: input ${fmt(xShape)}, weight ${fmt(wShape)}`;
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new ShapeError(`${where}: both must be 4-D`);
  }
  const [n, cin, h, w] = xShape, [cout, cig, kh, kw] = wShape;
  if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0 || cout % groups !== 0) {
    throw new ShapeError(`${where}: channels not divisible by groups=${groups}`);
  }
  if (cig !== cin / groups) {
    throw new ShapeError(
      `${where}: weight expects ${cig * groups} input channels (groups=${groups})`,
    );
  }
  if (
    [strideH, strideW, dilH, dilW].some((v) => !Number.isInteger(v) || v < 1) || padH < 0 ||
    padW < 0
  ) {
    throw new ShapeError(`${where}: bad stride/padding/dilation`);
  }
  const oh = Math.floor((h + 2 * padH - dilH * (kh - 1) - 1) / strideH) + 1;
  const ow = Math.floor((w + 2 * padW - dilW * (kw - 1) - 1) / strideW) + 1;
  if (oh < 1 || ow < 1) throw new ShapeError(`${where}: kernel larger than the padded input`);
  return { n, cin, h, w, cout, kh, kw, oh, ow, strideH, strideW, padH, padW, dilH, dilW, groups };
}

/** act(conv(x, weight) + bias) + add; `add`, when given, has the output's shape. */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  o: Conv2dOptions = {},
  add: Tensor | null = null,
): Tensor {
  const backend = sameDevice(
    "conv2d",
    x,
    weight,
    ...(bias ? [bias] : []),
    ...(add ? [add] : []),
  );
  const geo = conv2dGeometry(x.shape, weight.shape, o);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== geo.cout)) {
    throw new ShapeError(`conv2d: bias ${fmt(bias.shape)} for ${geo.cout} output channels`);
  }
  const act = o.activation ?? null;
  if (act?.op === "leakyRelu" && !((act.slope ?? 0) >= 0)) {
    throw new ShapeError(`conv2d: a fused LeakyReLU needs a slope ≥ 0, got ${act.slope}`);
  }
  const shape = [geo.n, geo.cout, geo.oh, geo.ow];
  if (add && !sameShape(add.shape, shape)) {
    throw new ShapeError(`conv2d: added ${fmt(add.shape)} to an output of ${fmt(shape)}`);
  }
  // bf16 out under bf16 precision (ops/precision.ts); dx, dw, db take x's, w's, b's dtypes.
  const dtype = lowerDtype(backend);
  // Unfused where act' would need the output before the add, or the add would promote it.
  if (add && (act || add.dtype !== dtype)) return addTensors(conv2d(x, weight, bias, o), add);
  const y = empty(shape, x, dtype);
  backend.conv2d(
    geo,
    x.buffer,
    weight.buffer,
    bias ? bias.buffer : null,
    y.buffer,
    act,
    add ? add.buffer : null,
  );
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(add ? [add] : [])];
  const name = act ? `conv2d+${act.op}` : add ? "conv2d+add" : "conv2d";
  return record(y, name, inputs, (gOut, needs) => {
    // act' from the output: relu and leaky keep the sign (slope ≥ 0), sigmoid' = y(1 − y).
    let g = gOut;
    if (act) {
      g = empty(y.shape, y);
      backend.unaryBackward(act.op, y.buffer, y.buffer, gOut.buffer, g.buffer, act.slope ?? 0, 0);
    }
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      dx = empty(x.shape, x);
      backend.conv2dBackwardData(geo, g.buffer, weight.buffer, dx.buffer);
    }
    if (bias && needs[2]) db = empty(bias.shape, bias);
    if (needs[1]) {
      dw = empty(weight.shape, weight);
      backend.conv2dBackwardFilter(geo, x.buffer, g.buffer, dw.buffer, db?.buffer ?? null);
    } else if (db) {
      backend.reduceSum(g.buffer, g.shape, [true, false, true, true], db.buffer);
    }
    if (g !== gOut) g.dispose();
    return [dx, dw, ...(bias ? [db] : []), ...(add ? [needs.at(-1) ? gOut : null] : [])];
  }, act ? [x, weight, y] : [x, weight]);
}
