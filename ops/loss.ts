// Losses with mean reduction (PyTorch's default).  pred, target [...] → scalar []

import { mul, sub } from "./arith.ts";
import { mean } from "./reduce.ts";
import { fmt, sameShape, ShapeError } from "./shape.ts";
import { abs } from "./unary.ts";
import type { Tensor } from "./tensor.ts";

function check(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(`${op}: shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ`);
  }
}

export function l1Loss(pred: Tensor, target: Tensor): Tensor {
  check("l1Loss", pred, target);
  return mean(abs(sub(pred, target)));
}

export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  check("mseLoss", pred, target);
  const d = sub(pred, target);
  return mean(mul(d, d));
}
