// Where an HDR result is right or wrong, split by what the bracket holds at each pixel.
// Exposure regions come from the reference frame's own values (any channel):
//   well-exposed: every channel in [0.08, 0.85], where the answer is the reference itself;
//   bright: a channel above 0.85 (clipped or near it), where the short frame must fill in;
//   dark: the rest (a channel below 0.08), where the long frame must fill in.
// Motion regions come from the frames alone, whatever the camera's response: where two
// frames are both well exposed, one is a monotone function of the other (the comparametric
// function, the per-bin median of one given the other); pixels far from it show something
// that moved (or a camera shift), and are dilated by a few pixels. The rest is static.
// A region's score: PSNR-μ over its pixels, each channel's mean over the target's (the
// tonal ratio), their geometric mean (the bias, < 1 is too dark) and the cast (the largest
// channel's departure from the bias).

import { channelAt, type Image } from "../io/image.ts";
import { muLaw } from "./tonemap.ts";

export const WELL_LO = 0.08, WELL_HI = 0.85;

export const REGIONS = ["well-exposed", "bright", "dark", "moving", "static"] as const;
export type RegionName = typeof REGIONS[number];
export type RegionMasks = Record<RegionName, Uint8Array>;

export interface RegionScore {
  /** Share of the image's pixels in the region. */
  fraction: number;
  psnrMu: number;
  /** Mean of each channel over the target's. */
  ratio: [number, number, number];
  /** Geometric mean of the ratios: the tonal bias (1 = right). */
  bias: number;
  /** Largest |ratio / bias − 1|: the colour cast. */
  cast: number;
}

/** 1 where every channel of the pixel is in [lo, WELL_HI]. */
export function wellExposed(img: Image, lo = WELL_LO): Uint8Array {
  const n = img.width * img.height, out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let ok = 1;
    for (let k = 0; k < 3; k++) {
      const v = channelAt(img, i, k);
      if (v < lo || v > WELL_HI) ok = 0;
    }
    out[i] = ok;
  }
  return out;
}

/** 0 below a, 1 above b, a smooth ramp between. */
export const smoothstep = (a: number, b: number, x: number) => {
  const t = Math.min(Math.max((x - a) / (b - a), 0), 1);
  return t * t * (3 - 2 * t);
};

/** 1 where a channel of the pixel is above `level`. */
export function above(img: Image, level: number): Uint8Array {
  const n = img.width * img.height, c = img.channels, out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) if (img.data[i * c + k] > level) out[i] = 1;
  }
  return out;
}

/** Square dilation of a mask by r pixels (separable). */
export function dilate(m: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const tmp = new Uint8Array(m.length), out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!m[y * w + x]) continue;
      for (let d = Math.max(0, x - r); d <= Math.min(w - 1, x + r); d++) tmp[y * w + d] = 1;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!tmp[y * w + x]) continue;
      for (let d = Math.max(0, y - r); d <= Math.min(h - 1, y + r); d++) out[d * w + x] = 1;
    }
  }
  return out;
}

const BINS = 64;

/**
 * Pixels where frame `f` departs from the comparametric function that maps the reference's
 * values to f's (per channel, fitted where both are well exposed), by more than `tol` (plus
 * the bin's own spread), dilated by `grow` pixels.
 */
export function motionMask(ldrs: Image[], ref: number, tol = 0.08, grow = 3): Uint8Array {
  const r = ldrs[ref], { width: w, height: h } = r, n = w * h;
  const moving = new Uint8Array(n);
  const wr = wellExposed(r);
  for (const [f, img] of ldrs.entries()) {
    if (f === ref || img === r) continue;
    const wf = wellExposed(img);
    for (let k = 0; k < 3; k++) {
      const at = (im: Image, i: number) => channelAt(im, i, k);
      const bins: number[][] = Array.from({ length: BINS }, () => []);
      for (let i = 0; i < n; i++) {
        if (wr[i] && wf[i]) bins[Math.min(BINS - 1, Math.floor(at(r, i) * BINS))].push(at(img, i));
      }
      const med = new Float64Array(BINS).fill(NaN), spread = new Float64Array(BINS);
      for (const [b, vs] of bins.entries()) {
        if (vs.length < 8) continue;
        vs.sort((p, q) => p - q);
        med[b] = vs[vs.length >> 1];
        spread[b] =
          (vs[Math.floor(0.9 * (vs.length - 1))] - vs[Math.floor(0.1 * (vs.length - 1))]) / 2;
      }
      for (let i = 0; i < n; i++) {
        if (!(wr[i] && wf[i])) continue;
        const b = Math.min(BINS - 1, Math.floor(at(r, i) * BINS));
        if (Number.isNaN(med[b])) continue;
        if (Math.abs(at(img, i) - med[b]) > tol + spread[b]) moving[i] = 1;
      }
    }
  }
  return dilate(moving, w, h, grow);
}

/** The five region masks of a prediction's bracket (frames in the network's order). */
export function regionMasks(ldrs: Image[], ref: number): RegionMasks {
  const r = ldrs[ref], n = r.width * r.height;
  const well = wellExposed(r), bright = above(r, WELL_HI), moving = motionMask(ldrs, ref);
  const dark = new Uint8Array(n), stat = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    dark[i] = !well[i] && !bright[i] ? 1 : 0;
    stat[i] = moving[i] ? 0 : 1;
  }
  return { "well-exposed": well, bright, dark, moving, static: stat };
}

/** A prediction against a target (both linear RGB) over a mask; null when it is empty. */
export function regionScore(pred: Image, target: Image, mask: Uint8Array): RegionScore | null {
  const pc = pred.channels, tc = target.channels;
  let count = 0, se = 0;
  const sp = [0, 0, 0], st = [0, 0, 0];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    count++;
    for (let k = 0; k < 3; k++) {
      const p = pred.data[i * pc + Math.min(k, pc - 1)],
        t = target.data[i * tc + Math.min(k, tc - 1)];
      const d = muLaw(Math.max(p, 0)) - muLaw(Math.max(t, 0));
      se += d * d;
      sp[k] += p;
      st[k] += t;
    }
  }
  if (!count) return null;
  const ratio = sp.map((s, k) => (st[k] > 0 ? s / st[k] : 1)) as [number, number, number];
  const bias = Math.cbrt(ratio[0] * ratio[1] * ratio[2]);
  const mse = se / (3 * count);
  return {
    fraction: count / mask.length,
    psnrMu: mse === 0 ? Infinity : -10 * Math.log10(mse),
    ratio,
    bias,
    cast: Math.max(...ratio.map((r) => Math.abs(r / bias - 1))),
  };
}

/** Every region's score (null where the region is empty). */
export function scoreRegions(
  pred: Image,
  target: Image,
  masks: RegionMasks,
): Record<RegionName, RegionScore | null> {
  return Object.fromEntries(
    REGIONS.map((r) => [r, regionScore(pred, target, masks[r])]),
  ) as Record<RegionName, RegionScore | null>;
}
