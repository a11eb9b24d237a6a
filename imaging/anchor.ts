// The network's output held to the reference frame's tone and colour. Where the reference is
// well exposed the convention fixes the answer: its own radiance, L^2.2 / 2^EV. The network
// comes close there but not exactly: our stage-1 race models came out 5% and 13% dark, with
// the channels off by different amounts (a colour cast of 4–6%). A smooth gain per channel,
// fitted where the reference is well exposed, takes the output back: each channel's sums of
// the reference's radiance and of the output over cells of 1/16 of the image's shorter side,
// blurred over a few cells (three 5×5 box passes), give the gain as their ratio, drawn towards
// the whole image's ratio where the cells hold little evidence. Detail, and what the network
// filled in where the reference clips or is dark, stay the network's, scaled by the gain of
// their surroundings; above what the reference records the gain fades out. Measured on the 48
// held-out scenes of synth-v3-test with ground truth (the stage-1 race model, `eval --data`):
// PSNR-μ 35.02 → 36.31 dB, PSNR-L 31.86 → 32.21; where the reference is well exposed 36.97 →
// 38.82 dB, tonal bias 0.951 → 1.003, colour cast (median) 3.6% → 0.3%.

import type { Image } from "../io/image.ts";
import { GAMMA } from "./exposure.ts";
import { wellExposed } from "./regions.ts";

/**
 * The gain is fitted where every channel of the reference is in [ANCHOR_LO, 0.85]: above the
 * regions' 0.08, because below about 1% of the reference's white its radiance is the least
 * certain. Real JPEGs lose light there (against the long frame, the reference reads 22–64% of
 * the light at code 0.08, 95% at 0.12), and a response estimated from a bracket is loosest
 * there (Debevec's memorial triplets' estimated curves differ by 10–20% at 2–4% of white).
 * Fitted from 0.08, the gain pulled those triplets, one stop apart, to −0.08 and +0.13 stops
 * of each other; from 0.12, −0.01 and +0.07.
 */
const ANCHOR_LO = 0.12;
/** Box passes and their half-width in cells. */
const PASSES = 3, RADIUS = 2;
/** How many cells' worth of evidence the whole image's gain counts for in each cell. */
const PRIOR_CELLS = 5;
/** Below this share of well-exposed pixels the reference is no anchor. */
const MIN_SHARE = 0.01;
const GAIN_MIN = 0.5, GAIN_MAX = 2;

export interface Anchoring {
  hdr: Image;
  /** The whole image's gain per channel (reference over output where it is well exposed). */
  gain: [number, number, number];
  /** Share of the image where the reference is well exposed (the evidence). */
  share: number;
  /** False where the reference held too little evidence and the result is the input. */
  applied: boolean;
}

/**
 * `hdr` (linear RGB, the units of the frames' EVs) held to the reference `ref` (the network's
 * convention: codes of γ 2.2, exposure `ev` stops above the shortest frame). Unchanged, gain
 * 1, where under 1% of the reference is well exposed.
 */
export function anchorToReference(hdr: Image, ref: Image, ev: number): Anchoring {
  const { width: w, height: h } = hdr, n = w * h, hc = hdr.channels, rc = ref.channels;
  if (ref.width !== w || ref.height !== h) {
    throw new Error(`anchor: the result is ${w}x${h}, the reference ${ref.width}x${ref.height}`);
  }
  const well = wellExposed(ref, ANCHOR_LO);
  const scale = 1 / 2 ** ev;
  const cell = Math.max(8, Math.round(Math.min(w, h) / 16));
  const cw = Math.ceil(w / cell), ch = Math.ceil(h / cell);
  const num = [0, 1, 2].map(() => new Float64Array(cw * ch));
  const den = [0, 1, 2].map(() => new Float64Array(cw * ch));
  let count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!well[i]) continue;
      count++;
      const k = Math.floor(y / cell) * cw + Math.floor(x / cell);
      for (let c = 0; c < 3; c++) {
        num[c][k] += Math.pow(ref.data[i * rc + Math.min(c, rc - 1)], GAMMA) * scale;
        den[c][k] += Math.max(hdr.data[i * hc + Math.min(c, hc - 1)], 0);
      }
    }
  }
  const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
  const global = [0, 1, 2].map((c) => {
    const d = sum(den[c]);
    return d > 0 ? clampGain(sum(num[c]) / d) : 1;
  }) as [number, number, number];
  const share = count / n;
  if (share < MIN_SHARE) return { hdr, gain: [1, 1, 1], share, applied: false };

  const gains = [0, 1, 2].map((c) => {
    const nb = boxBlur(num[c], cw, ch), db = boxBlur(den[c], cw, ch);
    const prior = PRIOR_CELLS * sum(den[c]) / (cw * ch);
    return nb.map((v, k) => clampGain((v + global[c] * prior) / (db[k] + prior)));
  });
  // Above what the reference records (its code 0.85) the output is the short frame's
  // radiance, which the reference cannot vouch for: the gain fades out over two stops.
  const top = Math.pow(0.85, GAMMA) * scale;
  const out = new Float32Array(hdr.data.length);
  for (let y = 0; y < h; y++) {
    // Bilinear between cell centres, clamped at the borders.
    const fy = Math.min(Math.max((y + 0.5) / cell - 0.5, 0), ch - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, ch - 1), ay = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) / cell - 0.5, 0), cw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, cw - 1), ax = fx - x0;
      const i = (y * w + x) * hc;
      let peak = 0;
      for (let c = 0; c < hc; c++) peak = Math.max(peak, hdr.data[i + c]);
      const keep = 1 - Math.min(Math.max(Math.log2(peak / top) / 2, 0), 1);
      for (let c = 0; c < hc; c++) {
        const g = gains[Math.min(c, 2)];
        const upper = (1 - ax) * g[y0 * cw + x0] + ax * g[y0 * cw + x1];
        const lower = (1 - ax) * g[y1 * cw + x0] + ax * g[y1 * cw + x1];
        out[i + c] = hdr.data[i + c] * Math.pow((1 - ay) * upper + ay * lower, keep);
      }
    }
  }
  return { hdr: { ...hdr, data: out }, gain: global, share, applied: true };
}

const clampGain = (g: number) => Math.min(Math.max(g, GAIN_MIN), GAIN_MAX);

/** PASSES box filters of (2·RADIUS+1)² cells, borders clamped: a near-Gaussian blur of sums. */
function boxBlur(a: Float64Array, w: number, h: number): Float64Array {
  let cur = a;
  for (let p = 0; p < PASSES; p++) {
    const o = new Float64Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let dy = -RADIUS; dy <= RADIUS; dy++) {
          const yy = Math.min(Math.max(y + dy, 0), h - 1) * w;
          for (let dx = -RADIUS; dx <= RADIUS; dx++) {
            s += cur[yy + Math.min(Math.max(x + dx, 0), w - 1)];
          }
        }
        o[y * w + x] = s;
      }
    }
    cur = o;
  }
  return cur;
}
