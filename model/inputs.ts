// Network inputs from a bracket (§4.1, after Kalantari & Ramamoorthi):
//   H_i = L_i^γ / 2^EV_i (γ = 2.2),  X_i = cat(L_i, H_i)      L_i [B, 3, H, W] → X_i [B, 6, H, W]
// The single place H_i is formed for the network. EVs are normalised to the shortest frame
// here (imaging/exposure.ts), so −2,0,2 and 0,2,4 give identical inputs and the output is in
// shortest-exposure units whatever the caller passed.

import { GAMMA, linearScales } from "../imaging/exposure.ts";
import { affine } from "../ops/arith.ts";
import { concat } from "../ops/layout.ts";
import type { Tensor } from "../ops/tensor.ts";
import { pow } from "../ops/unary.ts";

export function bracketInputs(ldrs: Tensor[], evs: number[]): [Tensor, Tensor, Tensor] {
  if (ldrs.length !== 3 || evs.length !== 3) {
    throw new Error(`LF-Diff takes 3 frames and 3 exposures, got ${ldrs.length} and ${evs.length}`);
  }
  const scales = linearScales(evs);
  return ldrs.map((l, i) => concat([l, affine(pow(l, GAMMA), scales[i], 0)], 1)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
}
