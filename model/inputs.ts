// Network inputs from a bracket (§4.1, after Kalantari & Ramamoorthi):
//   H_i = L_i^γ / 2^EV_i (γ = 2.2),  X_i = cat(L_i, H_i)      L_i [B, 3, H, W] → X_i [B, 6, H, W]

import { affine } from "../ops/arith.ts";
import { concat } from "../ops/layout.ts";
import type { Tensor } from "../ops/tensor.ts";
import { pow } from "../ops/unary.ts";

export const GAMMA = 2.2;

export function bracketInputs(
  ldrs: Tensor[],
  evs: number[],
  gamma = GAMMA,
): [Tensor, Tensor, Tensor] {
  if (ldrs.length !== 3 || evs.length !== 3) {
    throw new Error(`LF-Diff takes 3 frames and 3 exposures, got ${ldrs.length} and ${evs.length}`);
  }
  return ldrs.map((l, i) => concat([l, affine(pow(l, gamma), Math.pow(2, -evs[i]), 0)], 1)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
}
