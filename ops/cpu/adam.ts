// Adam as torch.optim.Adam computes it (non-fused, amsgrad off): L2 weight decay added to
// the gradient, bias corrections folded into the step size and the denominator. Elements
// [lo, hi).

import type { AdamStep } from "../backend.ts";

export function adam(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  s: AdamStep,
  lo = 0,
  hi = p.length,
): void {
  const { lr, beta1, beta2, eps, weightDecay } = s;
  const stepSize = lr / s.bias1;
  const bc2Sqrt = Math.sqrt(s.bias2);
  for (let i = lo; i < hi; i++) {
    const gi = weightDecay !== 0 ? g[i] + weightDecay * p[i] : g[i];
    m[i] = beta1 * m[i] + (1 - beta1) * gi;
    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
    p[i] -= stepSize * m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps);
  }
}
