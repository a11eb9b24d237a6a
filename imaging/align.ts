// Handheld alignment: every frame of a bracket warped into the reference frame's geometry
// before the network sees it (LF-Diff's attention can suppress misaligned content but cannot
// move it back).
//
// Comparing exposures. Frames are matched on their green channel: 72% of luma and the
// sensor's densest, and a warm scene clips red first, which would take those pixels out of a
// luma comparison. A frame's values are sent to the values the reference records for the same
// radiance by a transfer curve (imaging/tone_transfer.ts): by default from the histograms of
// the pixel pairs the current estimate puts on one point of the scene, which needs neither
// the camera's response nor the EVs; or through a given inverse response and the EVs. Pixels
// either frame records near black (≤ 0.03) or clipped (≥ 0.97) are left out with a margin:
// smoothing averages valid pixels only, and a pixel takes part only where 90% of its kernel
// fell on valid pixels, in the reference and at its warped position in the frame.
//
// Estimation, on 2×2 box pyramids down to about 64 pixels:
// 1. The integer shift by Ward's median threshold bitmaps (imaging/mtb.ts), coarse to fine
//    over ±maxShift: exposure-invariant with no curve at all.
// 2. Curves from the pairs under that shift. The sub-pixel translation by robust inverse-
//    compositional Lucas–Kanade (imaging/lucas_kanade.ts), and a homography from it from the
//    level of at most 256 pixels, both down to the level above the finest.
// 3. Curves again from the pairs under the homography; both warps refined on the two finest
//    levels. The finest is the full size up to 8 MP, else half size.
//
// The residual (before, after, and per candidate) is the median absolute difference, in the
// reference's values (0..1), between the reference's green and the transferred frame's sampled
// through the warp. It is taken over the reference's textured pixels (the stronger-gradient
// half of its valid pixels, at most 40 000, evenly thinned: misalignment shows at edges, and
// flat areas would only add noise), after the σ 0.7 smoothing, at the finest level used.
// Every candidate is scored on the same pixels, those that all keep inside the frame and valid
// there. A median, so movers count only once they cover half those pixels. With no such pixel
// (a frame black or clipped wherever the reference has texture) it is NaN, and the frame goes
// through unchanged whatever the mode.
//
// `auto` keeps a translation when it lowers the identity's residual by more than 5%, and a
// homography when it lowers the best simpler candidate's by more than 5% and could be a hand's
// motion (plausibleHomography; no mode keeps one that could not, and the second pass's curves
// come from the translation then); otherwise the frame goes through unchanged.
//
// Borders: the reference pixels whose warped position falls outside the frame are filled
// from the reference itself, re-exposed to the frame's exposure through the inverse transfer
// curve (reference → frame). They then read as "agrees with the reference", as the network
// treats a frame that shows nothing new, rather than as black, which it would read as a dark
// exposure. The filled fraction is reported.

import { escapeText } from "../io/files.ts";
import type { Image } from "../io/image.ts";
import {
  apply,
  type Homography,
  identity,
  maxDisplacement,
  toCoarserLevel,
  toFinerLevel,
  translation,
} from "./homography.ts";
import {
  medianResiduals,
  type MotionModel,
  prepareTemplate,
  refineWarp,
  type Template,
} from "./lucas_kanade.ts";
import { mtbShift } from "./mtb.ts";
import { erode, halve, halveMask, type Mask, type Plane, pyramid, smoothValid } from "./plane.ts";
import {
  applyCurve,
  type ToneCurve,
  transferByHistogram,
  transferByResponse,
} from "./tone_transfer.ts";

export type AlignMode = "auto" | "off" | "translation" | "homography";
export const ALIGN_MODES: AlignMode[] = ["auto", "off", "translation", "homography"];

export interface AlignOptions {
  /** Default auto. */
  mode?: AlignMode;
  /**
   * The inverse camera response: frame f's value v in channel c → its linear exposure, in
   * units common to all frames before the EVs scale them. Needs `evs`. Default: the
   * transfer between frames comes from their histograms.
   */
  linearise?: (frame: number, channel: number, value: number) => number;
  /** Exposure of each frame in stops (any origin); used with `linearise`. */
  evs?: number[];
  /** Largest shift searched, in pixels (default 6% of the longer side, at least 16). */
  maxShift?: number;
}

export interface FrameAlignment {
  /** What was done: the reference stays as it is; "off" means unaligned. */
  mode: "reference" | "off" | "translation" | "homography";
  /** Reference pixel (x, y) shows what the frame shows at matrix·(x, y, 1). */
  matrix: Homography;
  /**
   * Residual with the frame as given, and as aligned (the same when off); NaN when not
   * measured (mode off, a frame too small, or no textured pixel well exposed in both).
   */
  residualBefore: number;
  residualAfter: number;
  /** Every candidate's residual (a frame too small to align has only `off`). */
  residuals: { off: number; translation?: number; homography?: number };
  /** Fraction of the reference's pixels the warped frame does not cover (filled). */
  uncovered: number;
}

export interface AlignedBracket {
  /** The frames in the reference's geometry (a frame not moved is the same object). */
  frames: Image[];
  alignments: FrameAlignment[];
}

/** Matched-channel values at or above are clipped, at or below near black. */
const CLIPPED = 0.97, BLACK = 0.03;
/** `auto`'s bar: a richer model must lower the residual by this fraction. */
const GAIN = 0.05;
/** Coarsest pyramid level: longer side at most this. */
const COARSEST = 64;
/** The Lucas–Kanade homography starts at the level whose longer side is at most this. */
const HOMOGRAPHY_START = 256;
/**
 * Smoothing (σ, pixels of each level) before Lucas–Kanade: against noise and aliasing. More
 * was worse on real exposure pairs (σ 1.5: shifts 0.08 px off instead of 0.02), where the
 * frames also differ by the camera's local tone mapping.
 */
const SMOOTH = 0.7;
/**
 * The finest level used (by MTB, Lucas–Kanade and the residual) has at most this many pixels
 * (8 MP; a 24 MP frame is aligned at half size). Stopping at half size already at 3 MP made
 * a homography 0.4–1 px worse at the corners (0.06–0.26 px at full size).
 */
const FINEST_PIXELS = 1 << 23;

export function parseAlignMode(s: string): AlignMode {
  if ((ALIGN_MODES as string[]).includes(s)) return s as AlignMode;
  throw new Error(`--align must be ${ALIGN_MODES.join(", ")}, got "${escapeText(s)}"`);
}

/** The channel frames are matched on: green (gray: the one channel). */
const matched = (img: Image) => img.channels >= 3 ? 1 : 0;

/** The matched channel as a plane, through `curve` if given. */
function plane(img: Image, curve?: ToneCurve): Plane {
  const { width, height, channels: c, data } = img, n = width * height, k = matched(img);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = curve ? applyCurve(curve, data[i * c + k]) : data[i * c + k];
  return { width, height, data: out };
}

/**
 * Pixels whose matched channel is neither near black nor clipped, one pixel clear of any (a
 * JPEG rings beside a clipped area).
 */
function validMask(img: Image): Mask {
  const { width, height, channels: c, data } = img, n = width * height, k = matched(img);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i * c + k] > BLACK && data[i * c + k] < CLIPPED ? 1 : 0;
  return erode({ width, height, data: out });
}

/** At most this many pixel pairs make a transfer curve's histograms. */
const TRANSFER_SAMPLES = 1 << 18;

/** Pixel indices the warp puts on one point of the scene, in the reference and the frame. */
interface Pairs {
  refAt: Int32Array;
  frameAt: Int32Array;
}

/** The pairs under `warp` inside both frames, on a grid thinned to TRANSFER_SAMPLES. */
function pairsUnder(warp: Homography, w: number, h: number): Pairs {
  const step = Math.max(1, Math.round(Math.sqrt((w * h) / TRANSFER_SAMPLES)));
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8] = warp;
  const refAt = new Int32Array(Math.ceil(w / step) * Math.ceil(h / step)), frameAt = refAt.slice();
  let n = 0;
  for (let y = 0; y < h; y += step) {
    for (let x = 0; x < w; x += step) {
      const z = m6 * x + m7 * y + m8;
      const u = Math.round((m0 * x + m1 * y + m2) / z), v = Math.round((m3 * x + m4 * y + m5) / z);
      if (!(u >= 0 && v >= 0 && u < w && v < h)) continue;
      refAt[n] = y * w + x;
      frameAt[n++] = v * w + u;
    }
  }
  return { refAt: refAt.subarray(0, n), frameAt: frameAt.subarray(0, n) };
}

/**
 * Channel k's transfer curve from frame f to the reference (`back`: the reference to frame
 * f). Without a response it matches the histograms of the pairs, so what only one frame
 * shows at its border does not bend the curve (a 2° turn left 5% of a frame unpaired, and
 * the curve made from the whole frames moved a homography 0.1 px).
 */
function transfer(
  frames: Image[],
  f: number,
  ref: number,
  k: number,
  o: AlignOptions,
  pairs: Pairs,
  back = false,
): ToneCurve {
  if (o.linearise) {
    const lin = o.linearise, gain = 2 ** (o.evs![ref] - o.evs![f]);
    const fromF = (v: number) => lin(f, k, v), fromR = (v: number) => lin(ref, k, v);
    return back
      ? transferByResponse(fromR, fromF, 1 / gain)
      : transferByResponse(fromF, fromR, gain);
  }
  const c = frames[ref].channels, n = pairs.refAt.length;
  const a = new Float32Array(n), b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    b[i] = frames[ref].data[pairs.refAt[i] * c + k];
    a[i] = frames[f].data[pairs.frameAt[i] * c + k];
  }
  return back ? transferByHistogram(b, a) : transferByHistogram(a, b);
}

/** The reference's pyramids, shared by every frame. */
interface Reference {
  values: Plane[];
  mask: Mask[];
  /** Per level, made when first matched against: the smoothed values' textured points. */
  templates: (Template | undefined)[];
}

function levelsFor(width: number, height: number): number {
  let levels = 1;
  while (Math.max(width, height) >> levels > COARSEST && Math.min(width, height) >> levels >= 16) {
    levels++;
  }
  return levels;
}

/** The finest level with at most `pixels` pixels. */
function levelWithin(p: Plane[], pixels: number): number {
  let l = 0;
  while (l < p.length - 1 && p[l].width * p[l].height > pixels) l++;
  return l;
}

function atLevel(h: Homography, from: number, to: number): Homography {
  let m = h;
  for (let l = from; l < to; l++) m = toCoarserLevel(m);
  for (let l = from; l > to; l--) m = toFinerLevel(m);
  return m;
}

/**
 * Samples `img` at matrix·(x, y) for every pixel of the output (bilinear); pixels whose
 * position falls outside take fill(pixel, channel). Returns the fraction so filled.
 */
export function warpImage(
  img: Image,
  matrix: Homography,
  fill: (pixel: number, channel: number) => number,
): { image: Image; uncovered: number } {
  const { width: w, height: h, channels: c, data: s } = img;
  const out = new Float32Array(w * h * c);
  const [a, b, tx, d, e, ty, g, k, l] = matrix;
  let outside = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const z = g * x + k * y + l, o = (y * w + x) * c;
      const u = (a * x + b * y + tx) / z, v = (d * x + e * y + ty) / z;
      if (!(u >= -1e-6 && v >= -1e-6 && u <= w - 1 + 1e-6 && v <= h - 1 + 1e-6)) {
        for (let q = 0; q < c; q++) out[o + q] = fill(y * w + x, q);
        outside++;
        continue;
      }
      const ix = Math.min(Math.max(Math.floor(u), 0), Math.max(w - 2, 0));
      const iy = Math.min(Math.max(Math.floor(v), 0), Math.max(h - 2, 0));
      const fx = Math.min(Math.max(u - ix, 0), 1), fy = Math.min(Math.max(v - iy, 0), 1);
      const p = (iy * w + ix) * c, r = p + (h > 1 ? w * c : 0), dx = w > 1 ? c : 0;
      for (let q = 0; q < c; q++) {
        const top = s[p + q] + fx * (s[p + dx + q] - s[p + q]);
        const bottom = s[r + q] + fx * (s[r + dx + q] - s[r + q]);
        out[o + q] = top + fy * (bottom - top);
      }
    }
  }
  return { image: { ...img, data: out }, uncovered: outside / (w * h) };
}

/** The frame's integer shift by median threshold bitmaps (no transfer curve needed). */
function coarseShift(ref: Reference, frameImg: Image, maxShift: number): Homography {
  const levels = ref.values.length, fine = levelWithin(ref.values, FINEST_PIXELS);
  const radius = Math.max(1, Math.ceil(maxShift / 2 ** (levels - 1)));
  const [dx, dy] = mtbShift(ref.values, pyramid(plane(frameImg), levels, halve), radius, fine);
  return translation(dx, dy);
}

/** The candidate warps (identity, translation, homography) and their residuals. */
interface Fit {
  candidates: Homography[];
  scores: number[];
}

/**
 * Refines the translation start[0] from level `from` down to level `to`, and a homography:
 * start[1] from level `from`, or else the translation from the level HOMOGRAPHY_START names.
 * Scores the candidates when `to` is the finest level used.
 */
function fitWarps(
  ref: Reference,
  frameImg: Image,
  curve: ToneCurve,
  start: Homography[],
  [from, to]: number[],
  mode: AlignMode,
): Fit {
  const levels = ref.values.length, fine = levelWithin(ref.values, FINEST_PIXELS);
  const mapped = pyramid(plane(frameImg, curve), levels, halve);
  const mask = pyramid(validMask(frameImg), levels, halveMask);
  const smooth = mapped.map(() => undefined as { value: Plane; coverage: Plane } | undefined);
  const level = (l: number) => {
    if (!ref.templates[l]) {
      const { value, coverage } = smoothValid(ref.values[l], ref.mask[l], SMOOTH);
      ref.templates[l] = prepareTemplate(value, coverage);
    }
    smooth[l] ??= smoothValid(mapped[l], mask[l], SMOOTH);
    return { template: ref.templates[l]!, ...smooth[l]! };
  };
  const refine = (h0: Homography, top: number, model: MotionModel) => {
    const first = Math.max(top, to);
    let h = atLevel(h0, 0, first);
    for (let l = first; l >= to; l--) {
      const { template, value, coverage } = level(l);
      // Coarse levels need only bring the next one within reach.
      h = refineWarp(template, value, coverage, h, model, { tolerance: l > fine ? 0.01 : 0.002 });
      if (l > to) h = toFinerLevel(h);
    }
    return atLevel(h, to, 0);
  };
  const candidates = [identity(), refine(start[0], from, "translation")];
  if (mode === "auto" || mode === "homography") {
    let top = 0;
    while (
      top < levels - 1 && Math.max(ref.values[top].width, ref.values[top].height) > HOMOGRAPHY_START
    ) {
      top++;
    }
    candidates.push(
      start[1] ? refine(start[1], from, "homography") : refine(candidates[1], top, "homography"),
    );
  }
  if (to > fine) return { candidates, scores: [] };
  const { template, value, coverage } = level(fine);
  const scores = medianResiduals(
    template,
    value,
    coverage,
    candidates.map((h) => atLevel(h, 0, fine)),
  );
  return { candidates, scores };
}

/**
 * Whether m could be a hand's camera motion: no corner of the frame sent behind the camera,
 * and none moved more than a tenth of the frame's longer side from where m's own translation
 * (at the centre) puts it (a turn of about 10° on a 3:2 frame). Lucas–Kanade on a frame that
 * shares little well-exposed texture with the reference can end on a fold that still lowers
 * the residual (a room at −2 EV showing only its lamp: 110 px off on average).
 */
export function plausibleHomography(m: Homography, width: number, height: number): boolean {
  for (const [x, y] of [[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]]) {
    if (!(m[6] * x + m[7] * y + m[8] > 0)) return false;
  }
  const cx = (width - 1) / 2, cy = (height - 1) / 2, [u, v] = apply(m, cx, cy);
  return maxDisplacement(m, translation(u - cx, v - cy), width, height) <=
    0.1 * Math.max(width, height);
}

/** What `mode` keeps of a fit (auto: see the header); an implausible homography never. */
function choose(
  { candidates, scores: measured }: Fit,
  mode: AlignMode,
  width: number,
  height: number,
): FrameAlignment {
  const scores = measured.slice();
  const folded = candidates.length > 2 && !plausibleHomography(candidates[2], width, height);
  if (folded) scores[2] = NaN;
  // With nothing to compare (NaN), any mode leaves the frame as it is.
  let chosen: 0 | 1 | 2 = Number.isNaN(scores[0])
    ? 0
    : mode === "translation" || (mode === "homography" && folded)
    ? 1
    : mode === "homography"
    ? 2
    : 0;
  if (mode === "auto") {
    if (scores[1] < (1 - GAIN) * scores[0]) chosen = 1;
    if (scores[2] < (1 - GAIN) * scores[chosen]) chosen = 2;
  }
  const [off, translation, homography] = scores;
  return {
    mode: (["off", "translation", "homography"] as const)[chosen],
    matrix: candidates[chosen],
    residualBefore: off,
    residualAfter: scores[chosen],
    residuals: candidates.length > 2 ? { off, translation, homography } : { off, translation },
    uncovered: 0,
  };
}

/**
 * Aligns every frame to frames[ref]. Frames are LDR images of one size (values in [0, 1],
 * channels last). Each result says what was done and the residual before and after.
 */
export function alignBracket(frames: Image[], ref: number, o: AlignOptions = {}): AlignedBracket {
  const mode = o.mode ?? "auto";
  if (!(Number.isInteger(ref) && ref >= 0 && ref < frames.length)) {
    throw new Error(`align: no frame ${ref + 1} among ${frames.length} to align to`);
  }
  const { width: w, height: h, channels: c } = frames[ref];
  frames.forEach((f, i) => {
    if (f.width !== w || f.height !== h || f.channels !== c) {
      throw new Error(
        `align: frame ${i + 1} is ${f.width}x${f.height}x${f.channels}, ` +
          `the reference ${w}x${h}x${c}`,
      );
    }
  });
  if (o.linearise && o.evs?.length !== frames.length) {
    throw new Error(`align: a response needs one EV per frame (${frames.length})`);
  }
  // Not estimated: the reference (residual 0), or off, too small, the reference again (NaN).
  const unmoved = (f: number): FrameAlignment => {
    const r = f === ref ? 0 : NaN;
    return {
      mode: f === ref ? "reference" : "off",
      matrix: identity(),
      residualBefore: r,
      residualAfter: r,
      residuals: { off: r },
      uncovered: 0,
    };
  };
  // Too small to estimate anything: a level must keep a few textured pixels.
  if (mode === "off" || Math.min(w, h) < 32) {
    return { frames: frames.slice(), alignments: frames.map((_, f) => unmoved(f)) };
  }
  const levels = levelsFor(w, h);
  const reference: Reference = {
    values: pyramid(plane(frames[ref]), levels, halve),
    mask: pyramid(validMask(frames[ref]), levels, halveMask),
    templates: new Array(levels).fill(undefined),
  };
  const maxShift = o.maxShift ?? Math.max(16, 0.06 * Math.max(w, h));
  const out = frames.slice(), alignments: FrameAlignment[] = [];
  for (let f = 0; f < frames.length; f++) {
    if (f === ref || frames[f] === frames[ref]) {
      alignments.push(unmoved(f));
      continue;
    }
    // From the integer shift down to the level above the finest, with curves made under that
    // shift; then, with curves made on the pairs that fit puts together, to the finest (a
    // given response makes curves that need no pairs: one pass).
    const shift = coarseShift(reference, frames[f], maxShift);
    const k = matched(frames[f]), fine = levelWithin(reference.values, FINEST_PIXELS);
    const again = o.linearise ? fine : Math.min(fine + 1, levels - 1);
    let pairs = pairsUnder(shift, w, h);
    const first = transfer(frames, f, ref, k, o, pairs);
    let fit = fitWarps(reference, frames[f], first, [shift], [fine, again], mode);
    if (again > fine) {
      const [, t, hom] = fit.candidates;
      pairs = pairsUnder(hom && plausibleHomography(hom, w, h) ? hom : t, w, h);
      const curve = transfer(frames, f, ref, k, o, pairs);
      fit = fitWarps(reference, frames[f], curve, fit.candidates.slice(1), [again, fine], mode);
    }
    const a = choose(fit, mode, w, h);
    if (a.mode !== "off") {
      const r = frames[ref].data;
      const fill = Array.from({ length: c }, (_, q) => transfer(frames, f, ref, q, o, pairs, true));
      const warped = warpImage(frames[f], a.matrix, (i, q) => applyCurve(fill[q], r[i * c + q]));
      out[f] = warped.image;
      a.uncovered = warped.uncovered;
    }
    alignments.push(a);
  }
  return { frames: out, alignments };
}

const signed = (v: number) => `${v < 0 ? "−" : "+"}${Math.abs(v).toFixed(1)}`;

/**
 * One line for a frame (numbered from 1), e.g. "aligned frame 1: translation (+12.3, −4.1)
 * px, residual 0.081 → 0.012". The shift is where the frame shows the reference's centre,
 * relative to it.
 */
export function describeAlignment(a: FrameAlignment, frame: number, width: number, height: number) {
  if (a.mode === "reference") return `frame ${frame}: the reference`;
  const res = `residual ${a.residualBefore.toFixed(3)} → ${a.residualAfter.toFixed(3)}`;
  if (a.mode === "off") {
    return Number.isNaN(a.residualBefore)
      ? `frame ${frame}: not aligned (no residual measured)`
      : `frame ${frame}: not aligned (residual ${a.residualBefore.toFixed(3)})`;
  }
  const cx = (width - 1) / 2, cy = (height - 1) / 2, [u, v] = apply(a.matrix, cx, cy);
  const shift = `(${signed(u - cx)}, ${signed(v - cy)}) px`;
  let what = `translation ${shift}`;
  if (a.mode === "homography") {
    const [px, py] = apply(a.matrix, cx + 1, cy);
    const angle = (Math.atan2(py - v, px - u) * 180) / Math.PI;
    what = `homography ${shift} at the centre, ${signed(angle)}° rotation`;
  }
  const filled = a.uncovered > 0
    ? `, ${(100 * a.uncovered).toFixed(1)}% filled from the reference`
    : "";
  return `aligned frame ${frame}: ${what}, ${res}${filled}`;
}
