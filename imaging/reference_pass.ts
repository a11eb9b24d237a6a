// Where the reference is unclipped and clean, its own radiance is the answer (Kalantari's
// convention), and the network only comes close: on noise-free 16-bit brackets
// (synth-clean-test) the shipped model agrees with the reference to 42.6 dB PSNR-μ where it is
// well exposed and misses the truth by 28 dB where it is dark, while the reference is 82 dB
// from the truth. On noisy frames the network's denoised values beat the reference instead.
// Which holds is measured per channel and band of the reference's codes: the mean squared
// difference D between the reference and the output (in the reference's codes) is the
// network's error plus the reference's noise N. With the two independent, out + w·(ref − out)
// has the least error at w = 1 − N/D: 1 for a clean reference, 0 where the difference is all
// the reference's noise. N is Immerkær's estimate (the 3×3 Laplacian residual of the
// reference), from the lowest quarter of the residuals so that texture counts little, and at
// two spacings so that a demosaic's correlated noise counts whole.
// Left out:
// - codes below band 0's top (0.009; the weight reaches band 1's by 0.02), where black points
//   and noise clipped at zero bias the reference (synth-v4-test's black points: −0.25 dB with
//   it);
// - frames of 8-bit content (at most 256 codes in green): camera JPEGs, whose compression
//   and in-camera denoising remove the fine grain the estimate sees but not the blotches
//   (synth-v4-test's JPEG scenes lost up to 1 dB each with them).

import { channelAt as at, checkSameSize, type Image } from "../io/image.ts";
import { GAMMA, linearise } from "./exposure.ts";
import { smoothstep } from "./regions.ts";

/** Bands of the reference's codes, evenly spaced in √code over [0, TOP]. */
const BANDS = 10;
/** Near its clip a camera's curve rolls off and channels mix: the reference fades out. */
const FADE = 0.8, TOP = 0.9;
/** Fewest pixels (and residual samples, at either scale) a band needs to be measured. */
const LEAST = 50;
/** The wide residual's spacing in pixels: beyond a demosaic's reach (AHD's ±1–2 px). */
const SPREAD = 3;
/** Entries of the per-code tables (weight, radiance), interpolated between. */
const TABLE = 4096;
/** At most this many residual samples per channel (a grid over the image). */
const SAMPLES = 1 << 20;
/**
 * The residuals' lowest quarter speaks for the noise (texture lifts the rest): for Gaussian
 * noise of σ, its mean is LOWEST_QUARTER × 6σ. QUARTILE is where |X| falls a quarter of the
 * time, Φ⁻¹(0.625) for a standard normal X: it must change with QUARTER.
 */
const QUARTER = 0.25, QUARTILE = 0.3186394;
const LOWEST_QUARTER = Math.sqrt(2 / Math.PI) * (1 - Math.exp(-(QUARTILE ** 2) / 2)) / QUARTER;

export interface Passing {
  hdr: Image;
  /** Per channel, the reference's mean weight over the image. */
  weight: [number, number, number];
  /** False for a reference of 8-bit content: the result is the input. */
  applied: boolean;
}

/** A code in [0, 1]; not a number counts as black (a float frame's NaN). */
const unit = (v: number) => (v > 0 ? Math.min(v, 1) : 0);
/** Where code v falls on the band axis: band k covers [k, k + 1). */
const onBands = (v: number) => Math.sqrt(unit(v) / TOP) * BANDS;
const band = (v: number) => Math.min(BANDS - 1, Math.floor(onBands(v)));

/**
 * The weight of code v: none in band 0, rising through band 1's lower half to band 1's, then
 * interpolated between band centres.
 */
function weightOf(weights: Float64Array, v: number): number {
  const s = onBands(v);
  if (s < 1.5) return s < 1 ? 0 : weights[1] * (s - 1) / 0.5;
  const t = Math.min(s - 0.5, BANDS - 1), b = Math.min(Math.floor(t), BANDS - 2), f = t - b;
  return (1 - f) * weights[b] + f * weights[b + 1];
}

/**
 * `hdr` (linear RGB, the units of the frames' EVs) with the reference `ref` (the network's
 * convention, exposure `ev` stops above the shortest frame) passed through where it is cleaner
 * than `hdr`.
 */
export function passReference(hdr: Image, ref: Image, ev: number): Passing {
  const { width: w, height: h } = hdr, n = w * h, hc = hdr.channels;
  checkSameSize("reference pass", hdr, ref, "the reference");
  if (!deeperThan8Bits(ref)) return { hdr, weight: [0, 0, 0], applied: false };
  const scale = 1 / 2 ** ev, code = (v: number) => Math.pow(Math.max(v, 0) / scale, 1 / GAMMA);
  const top = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let peak = 0;
    for (let c = 0; c < 3; c++) peak = Math.max(peak, unit(at(ref, i, c)));
    top[i] = 1 - smoothstep(FADE, TOP, peak);
  }
  const weights = [0, 1, 2].map((c) => {
    const { d, count } = differences(hdr, ref, c, top, code), noise = noiseByBand(ref, c);
    return Float64Array.from({ length: BANDS }, (_, b) => {
      if (b === 0 || count[b] < LEAST || !(d[b] > 0) || !Number.isFinite(noise[b])) return 0;
      return Math.min(Math.max(1 - noise[b] / (d[b] / count[b]), 0), 1);
    });
  });
  const tables = weights.map((wb) =>
    Float32Array.from({ length: TABLE + 1 }, (_, j) => weightOf(wb, j / TABLE))
  );
  const radiance = Float32Array.from({ length: TABLE + 1 }, (_, j) => linearise(j / TABLE, scale));
  const out = hdr.data.slice(), mean = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    if (top[i] <= 0) continue;
    for (let c = 0; c < 3; c++) {
      const z = unit(at(ref, i, c)) * TABLE, o = i * hc + c;
      const j = Math.min(Math.floor(z), TABLE - 1), f = z - j, wt = tables[c];
      const weight = top[i] * (wt[j] + f * (wt[j + 1] - wt[j]));
      // A non-finite output value stays as it is: nothing measured it.
      if (weight <= 0 || !Number.isFinite(out[o])) continue;
      out[o] += weight * (radiance[j] + f * (radiance[j + 1] - radiance[j]) - out[o]);
      mean[c] += weight;
    }
  }
  return {
    hdr: { ...hdr, data: out },
    weight: mean.map((s) => s / n) as [number, number, number],
    applied: true,
  };
}

/**
 * Per band of channel c's codes, on a grid of at most SAMPLES pixels: the summed squared
 * difference d between the reference and the output (in codes) over `count` pixels.
 */
function differences(
  hdr: Image,
  ref: Image,
  c: number,
  top: Float32Array,
  code: (v: number) => number,
): { d: Float64Array; count: Float64Array } {
  const { width: w, height: h } = ref, hc = hdr.channels, step = gridStep(w, h);
  const d = new Float64Array(BANDS), count = new Float64Array(BANDS);
  for (let y = 0; y < h; y += step) {
    for (let x = 0; x < w; x += step) {
      const i = y * w + x, r = unit(at(ref, i, c)), o = hdr.data[i * hc + c];
      if (top[i] <= 0 || !Number.isFinite(o)) continue;
      const e = r - code(o), b = band(r);
      d[b] += e * e;
      count[b]++;
    }
  }
  return { d, count };
}

/**
 * Per band of channel c's codes, the reference's noise variance in codes: Immerkær's
 * Laplacian residual (σ_r = 6σ for white noise) on neighbours 1 and SPREAD pixels apart, the
 * larger. A demosaicked sensor's noise is correlated between neighbours, which hides it from
 * the first (a LibRaw-developed DNG's noise read at half its σ, and passed through at weights
 * up to 0.86 onto an output that was the truth) but not from the second (weights 0–0.24).
 */
function noiseByBand(ref: Image, c: number): number[] {
  const { width: w, height: h } = ref, v = (x: number, y: number) => at(ref, y * w + x, c);
  const full = lowestQuarterNoise(v, w, h, 1), wide = lowestQuarterNoise(v, w, h, SPREAD);
  return full.map((n, b) => Math.max(n, wide[b]));
}

/**
 * The noise variance per band of an image `v` of w × h, from its Laplacian on samples `s`
 * apart; Infinity where a band has too few.
 */
function lowestQuarterNoise(
  v: (x: number, y: number) => number,
  w: number,
  h: number,
  s: number,
): number[] {
  const step = gridStep(w, h), sizes = new Int32Array(BANDS);
  for (let y = s; y < h - s; y += step) {
    for (let x = s; x < w - s; x += step) sizes[band(v(x, y))]++;
  }
  const residuals = Array.from(sizes, (k) => new Float32Array(k)), filled = new Int32Array(BANDS);
  for (let y = s; y < h - s; y += step) {
    for (let x = s; x < w - s; x += step) {
      const r = v(x, y), b = band(r);
      // A NaN residual sorts last, out of the lowest quarter.
      residuals[b][filled[b]++] = Math.abs(
        v(x - s, y - s) - 2 * v(x, y - s) + v(x + s, y - s) - 2 * v(x - s, y) + 4 * r -
          2 * v(x + s, y) + v(x - s, y + s) - 2 * v(x, y + s) + v(x + s, y + s),
      );
    }
  }
  return residuals.map((rs) => {
    if (rs.length < LEAST) return Infinity;
    rs.sort();
    const low = Math.max(1, Math.floor(rs.length * QUARTER));
    let sum = 0;
    for (let k = 0; k < low; k++) sum += rs[k];
    return (sum / low / (6 * LOWEST_QUARTER)) ** 2;
  });
}

/** The spacing of a grid of at most SAMPLES points over w × h. */
const gridStep = (w: number, h: number) => Math.max(1, Math.ceil(Math.sqrt((w * h) / SAMPLES)));

/**
 * More than 256 distinct codes in the green channel: 8-bit content stays within 256, whatever
 * curve undid it.
 */
function deeperThan8Bits(ref: Image): boolean {
  const seen = new Uint8Array(65536);
  let distinct = 0;
  for (let i = 0, n = ref.width * ref.height; i < n; i++) {
    const k = Math.round(unit(at(ref, i, 1)) * 65535);
    if (!seen[k]) {
      seen[k] = 1;
      if (++distinct > 256) return true;
    }
  }
  return false;
}
