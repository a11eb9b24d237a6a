// LF-Diff's losses (§4.1 Eq. 11, §4.2 Eq. 15), on tensors so they backpropagate.
//   T(x) = log(1 + μx) / log(1 + μ)                      the μ-law tone map (μ = io's MU)
//   L_r(Ĥ, H) = ‖T(H) − T(Ĥ)‖₁ + λ‖φ(T(H)) − φ(T(Ĥ))‖₁    φ: VGG19 conv5_4, when given

import { add, affine } from "../ops/arith.ts";
import { l1Loss } from "../ops/loss.ts";
import type { Tensor } from "../ops/tensor.ts";
import { log } from "../ops/unary.ts";
import { float32 } from "../ops/precision.ts";
import { MU } from "../imaging/tonemap.ts";
import type { Vgg19Features } from "./vgg.ts";

export function muLawTensor(x: Tensor): Tensor {
  // In fp32: 1 + μx in bf16 would step by up to 1/256 of itself (the loss is on the fp32 list).
  return affine(log(affine(float32(x), MU, 1)), 1 / Math.log(1 + MU), 0);
}

/** L_r with its terms: `l1`, and `perceptual` when a VGG is given. */
export function reconstructionLoss(
  h: Tensor,
  gt: Tensor,
  vgg: Vgg19Features | null,
  lambda: number,
): { total: Tensor; terms: Record<string, Tensor> } {
  const th = muLawTensor(h), tg = muLawTensor(gt);
  const l1 = l1Loss(th, tg);
  if (!vgg) return { total: l1, terms: { l1 } };
  const perceptual = vgg.distance(th, tg);
  return { total: add(l1, affine(perceptual, lambda, 0)), terms: { l1, perceptual } };
}
