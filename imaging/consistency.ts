// Checks of an HDR result that need no ground truth, for real brackets. Each compares the
// result with one frame's own radiance (H = L^γ / 2^EV, the frames in the network's
// convention, EVs from the shortest) where that frame is the one to trust:
//   reference: where the reference is well exposed, the answer is the reference itself;
//   highlight: where the reference is bright (a channel above 0.85) and the shortest frame is
//     well exposed, the answer is the shortest frame;
//   shadow: where the reference is dark and the longest frame is well exposed, the longest;
//   fill: highlight and shadow together.
// Moving content breaks the last three where it sits in a different place in the other
// frame; every method meets the same frames, so the numbers still rank methods.

import type { Image } from "../io/image.ts";
import { ldrToLinear } from "./exposure.ts";
import { above, type RegionScore, regionScore, WELL_HI, wellExposed } from "./regions.ts";

export const CHECKS = ["reference", "highlight", "shadow", "fill"] as const;
export type Check = typeof CHECKS[number];

/**
 * The four checks of `out` against the bracket the network saw: three frames (short,
 * reference, long) in the network's convention and their EVs from the shortest. `valid`
 * (default all) keeps the pixels where the frames hold their own values: an aligned frame's
 * border, which its warp does not cover, has no radiance of its own to check against.
 */
export function consistency(
  out: Image,
  ldrs: Image[],
  evs: number[],
  valid?: Uint8Array,
): Record<Check, RegionScore | null> {
  const [short, ref, long] = ldrs;
  const n = ref.width * ref.height;
  const wellRef = wellExposed(ref), bright = above(ref, WELL_HI);
  const wellShort = wellExposed(short), wellLong = wellExposed(long);
  const hi = new Uint8Array(n), lo = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (valid && !valid[i]) {
      wellRef[i] = 0;
      continue;
    }
    hi[i] = bright[i] && wellShort[i] && short !== ref ? 1 : 0;
    lo[i] = !wellRef[i] && !bright[i] && wellLong[i] && long !== ref ? 1 : 0;
  }
  // The fill target: whichever frame fills that pixel.
  const hShort = ldrToLinear(short, evs[0]), hLong = ldrToLinear(long, evs[2]);
  const fill = hShort.data.slice(), mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    mask[i] = hi[i] | lo[i];
    if (lo[i]) { for (let k = 0; k < 3; k++) fill[i * 3 + k] = hLong.data[i * 3 + k]; }
  }
  return {
    reference: regionScore(out, ldrToLinear(ref, evs[1]), wellRef),
    highlight: regionScore(out, hShort, hi),
    shadow: regionScore(out, hLong, lo),
    fill: regionScore(out, { ...hShort, data: fill }, mask),
  };
}
