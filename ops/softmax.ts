// Softmax over the last axis.  x [..., n] → y [..., n];  dx = y ⊙ (g − Σ g⊙y)

import { record } from "./autograd.ts";
import { ShapeError } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

export function softmax(x: Tensor): Tensor {
  if (x.rank === 0) throw new ShapeError("softmax: needs at least one axis");
  const cols = x.shape[x.rank - 1], rows = x.size / Math.max(cols, 1);
  const y = empty(x.shape, x);
  x.backend.softmax(x.buffer, y.buffer, rows, cols);
  return record(y, "softmax", [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.softmaxBackward(y.buffer, g.buffer, dx.buffer, rows, cols);
    return [dx];
  }, [y]);
}
