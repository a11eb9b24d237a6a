// Average and max pooling.  x [n, c, h, w] → [n, c, floor((h−k)/s)+1, floor((w−k)/s)+1]
// Global average pooling is a mean over h, w with the axes kept: [n, c, 1, 1].

import type { PoolGeometry } from "./backend.ts";
import { record } from "./autograd.ts";
import { mean } from "./reduce.ts";
import { fmt, ShapeError } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

function poolGeometry(op: string, x: Tensor, kernel: number, stride: number): PoolGeometry {
  if (x.rank !== 4) throw new ShapeError(`${op}: input ${fmt(x.shape)} is not 4-D`);
  const [n, c, h, w] = x.shape;
  if (kernel < 1 || stride < 1 || kernel > h || kernel > w) {
    throw new ShapeError(`${op}: kernel ${kernel} does not fit input ${fmt(x.shape)}`);
  }
  return {
    planes: n * c,
    h,
    w,
    oh: Math.floor((h - kernel) / stride) + 1,
    ow: Math.floor((w - kernel) / stride) + 1,
    k: kernel,
    stride,
  };
}

export function avgPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  const geo = poolGeometry("avgPool2d", x, kernel, stride);
  const y = empty([x.shape[0], x.shape[1], geo.oh, geo.ow], x);
  x.backend.avgPool2d(geo, x.buffer, y.buffer);
  return record(y, "avgPool2d", [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.avgPool2dBackward(geo, g.buffer, dx.buffer);
    return [dx];
  }, []);
}

export function maxPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  const geo = poolGeometry("maxPool2d", x, kernel, stride);
  const y = empty([x.shape[0], x.shape[1], geo.oh, geo.ow], x);
  const argmax = empty(y.shape, x, "float32");
  x.backend.maxPool2d(geo, x.buffer, y.buffer, argmax.buffer);
  const out = record(y, "maxPool2d", [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.maxPool2dBackward(geo, g.buffer, argmax.buffer, dx.buffer);
    return [dx];
  }, [argmax]);
  if (!out.node) argmax.dispose();
  return out;
}

export function globalAvgPool(x: Tensor): Tensor {
  if (x.rank !== 4) throw new ShapeError(`globalAvgPool: input ${fmt(x.shape)} is not 4-D`);
  return mean(x, [2, 3], true);
}
