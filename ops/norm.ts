// Normalisations.
//   layerNorm2d: x [n, c, h, w], weight [c], bias [c] | null → y [n, c, h, w], normalising
//     across c at every pixel (Restormer's LayerNorm; bias null = its BiasFree variant).
//   l2Normalize: x / max(‖x‖₂, eps) along one axis (F.normalize).

import { record } from "./autograd.ts";
import { div, mul } from "./arith.ts";
import { sum } from "./reduce.ts";
import { fmt, ShapeError } from "./shape.ts";
import { float32 } from "./precision.ts";
import { clamp, sqrt } from "./unary.ts";
import { empty, sameDevice, type Tensor } from "./tensor.ts";

export function layerNorm2d(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5): Tensor {
  const backend = sameDevice("layerNorm2d", x, weight, ...(bias ? [bias] : []));
  if (x.rank !== 4) throw new ShapeError(`layerNorm2d: input ${fmt(x.shape)} is not 4-D`);
  const [n, c, h, w] = x.shape, hw = h * w;
  for (const p of bias ? [weight, bias] : [weight]) {
    if (p.rank !== 1 || p.shape[0] !== c) {
      throw new ShapeError(`layerNorm2d: parameter ${fmt(p.shape)} for input ${fmt(x.shape)}`);
    }
  }
  // y in x's dtype; the statistics in fp32 (ops/precision.ts).
  const y = empty(x.shape, x);
  const mu = empty([n, hw], x, "float32"), rstd = empty([n, hw], x, "float32");
  const geo = { n, c, hw, eps };
  backend.layerNorm(
    geo,
    x.buffer,
    weight.buffer,
    bias?.buffer ?? null,
    y.buffer,
    mu.buffer,
    rstd.buffer,
  );
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const out = record(y, "layerNorm2d", inputs, (g) => {
    const dx = empty(x.shape, x), dw = empty(weight.shape, weight);
    const db = bias ? empty(bias.shape, bias) : null;
    backend.layerNormBackward(
      geo,
      x.buffer,
      weight.buffer,
      mu.buffer,
      rstd.buffer,
      g.buffer,
      dx.buffer,
      dw.buffer,
      db?.buffer ?? null,
    );
    return [dx, dw, db];
  }, [x, weight, mu, rstd]);
  if (!out.node) {
    mu.dispose();
    rstd.dispose();
  }
  return out;
}

/** x / max(‖x‖₂, eps) along `axis`, in fp32 (ops/precision.ts). */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-12): Tensor {
  const x32 = float32(x);
  const norm = clamp(sqrt(sum(mul(x32, x32), axis, true)), eps);
  return div(x32, norm);
}
