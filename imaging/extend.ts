// Beyond the three frames the network saw. A bracket of 5–9 frames (or 16) covers more range
// than three frames within the network's 3-stop spacing (imaging/frames.ts): where the
// network's short frame clips, its output stops at what that frame records (1.0 in
// shortest-exposure units, the sigmoid's top), and the bracket's shorter frames know more.
// There the result takes their radiance (hat-weighted over their well-exposed codes; the
// shortest frame's where none is), blended in over the short frame's last codes (0.9–0.98)
// and never below the network's own value, so the network's output stays untouched wherever
// its own frames saw the scene. Measured against the bracket's shortest frame where the
// network's short frame clips: 17.2 → 29.4 dB PSNR-μ on a 7-frame bracket, 21.4 → 40.2 dB on
// Debevec's 16 frames. The same on the dark side (longer frames where the long frame is
// dark) made Debevec's shadows worse (20.7 → 14.7 dB: the film's toe is where its recovered
// response is least sure), so no longer frame's radiance is taken there (./anchor.ts holds
// the shadows' tone to the network's own long frame).

import type { Image } from "../io/image.ts";
import { inConvention, type PreparedBracket } from "./prepare.ts";
import { GAMMA } from "./exposure.ts";
import { smoothstep } from "./regions.ts";

/** Trust in a code: mid-tones most, none at the ends. */
const hat = (v: number) => (v <= 0.03 || v >= 0.97 ? 0 : 1 - Math.pow(2 * v - 1, 8));

export interface Extension {
  hdr: Image;
  /** Share of pixels taken (partly) from the shorter frames. */
  highlights: number;
  /** The shorter frames used. */
  frames: number[];
}

export function extendRange(hdr: Image, p: PreparedBracket): Extension {
  const s = p.choice.indices[0], evs = p.alignedEvs;
  const shorter = evs.map((_, i) => i).filter((i) => evs[i] < evs[s]);
  if (!shorter.length) return { hdr, highlights: 0, frames: [] };
  const frames = shorter.map((i) => inConvention(p.aligned[i], p));
  const shortest = shorter.reduce((a, b) => (evs[b] < evs[a] ? b : a));
  const n = hdr.width * hdr.height, out = hdr.data.slice(), short = p.ldrs[0].data;
  let taken = 0;
  for (let i = 0; i < n; i++) {
    const t = smoothstep(0.9, 0.98, Math.max(short[i * 3], short[i * 3 + 1], short[i * 3 + 2]));
    if (t <= 0) continue;
    taken++;
    for (let k = 0; k < 3; k++) {
      // The shorter frames' radiance, in shortest-exposure units of the network's frames.
      let num = 0, den = 0;
      for (const [j, f] of shorter.entries()) {
        const v = frames[j].data[i * 3 + k], w = hat(v);
        num += (w * Math.pow(v, GAMMA)) / Math.pow(2, evs[f]);
        den += w;
      }
      const j = shorter.indexOf(shortest);
      const v = den > 0
        ? num / den
        : Math.pow(frames[j].data[i * 3 + k], GAMMA) / Math.pow(2, evs[shortest]);
      out[i * 3 + k] = (1 - t) * out[i * 3 + k] + t * Math.max(v, out[i * 3 + k]);
    }
  }
  return { hdr: { ...hdr, data: out }, highlights: taken / n, frames: shorter };
}
