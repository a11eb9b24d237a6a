// Average pooling.  x [n, c, h, w] → [n, c, floor((h−k)/s)+1, floor((w−k)/s)+1]
// Global average pooling is a mean over h, w with the axes kept: [n, c, 1, 1].

import type { PoolGeometry } from "./backend.ts";
import { record } from "./autograd.ts";
import { mean } from "./reduce.ts";
import { fmt, ShapeError } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

export function avgPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  if (x.rank !== 4) throw new ShapeError(`avgPool2d: input ${fmt(x.shape)} is not 4-D`);
  const [n, c, h, w] = x.shape;
  if (kernel < 1 || stride < 1 || kernel > h || kernel > w) {
    throw new ShapeError(`avgPool2d: kernel ${kernel} does not fit input ${fmt(x.shape)}`);
  }
  const geo: PoolGeometry = {
    planes: n * c,
    h,
    w,
    oh: Math.floor((h - kernel) / stride) + 1,
    ow: Math.floor((w - kernel) / stride) + 1,
    k: kernel,
    stride,
  };
  const y = empty([n, c, geo.oh, geo.ow], x);
  x.backend.avgPool2d(geo, x.buffer, y.buffer);
  return record(y, "avgPool2d", [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.avgPool2dBackward(geo, g.buffer, dx.buffer);
    return [dx];
  });
}

export function globalAvgPool(x: Tensor): Tensor {
  if (x.rank !== 4) throw new ShapeError(`globalAvgPool: input ${fmt(x.shape)} is not 4-D`);
  return mean(x, [2, 3], true);
}
