// A classic, non-learned exposure merge, the baseline row of every evaluation table.
// Each frame is linearised (H = L^γ / 2^EV, EVs from the shortest frame) and weighted by a hat function of its LDR value
// (Debevec & Malik's idea: trust mid-tones, distrust clipped and dark pixels). Where the
// reference frame is well exposed, a frame whose linear value disagrees with the
// reference's by more than `tolerance` (relative) is taken to show motion and dropped
// there, so the reference decides (the classic ghost rejection). A clipped value counts
// only in the shortest exposure and a near-black one only in the longest, so a pixel
// clipped everywhere takes the short frame's value, the most the bracket can tell.

import { linearise, linearScales } from "./exposure.ts";
import { type Image, newImage } from "../io/image.ts";

const hat = (v: number) => Math.max(1e-4, 1 - Math.pow(2 * v - 1, 12));
const CLIPPED = 0.99, BLACK = 0.01;

export function mergeBracket(ldrs: Image[], evs: number[], ref = 1, tolerance = 0.25): Image {
  const { width, height } = ldrs[ref];
  const out = newImage(width, height, 3, 32);
  const scale = linearScales(evs);
  const shortest = evs.indexOf(Math.min(...evs)), longest = evs.indexOf(Math.max(...evs));
  for (let i = 0; i < width * height * 3; i++) {
    const r = ldrs[ref].data[i], hr = linearise(r, scale[ref]);
    const refGood = r > 0.05 && r < 0.95;
    let num = 0, den = 0;
    for (let f = 0; f < ldrs.length; f++) {
      const v = ldrs[f].data[i], h = linearise(v, scale[f]);
      if (f !== ref && refGood && Math.abs(h - hr) > tolerance * (hr + 1e-3)) continue;
      if ((v >= CLIPPED && f !== shortest) || (v <= BLACK && f !== longest)) continue;
      const w = hat(v);
      num += w * h;
      den += w;
    }
    out.data[i] = den > 0 ? num / den : hr;
  }
  return out;
}
