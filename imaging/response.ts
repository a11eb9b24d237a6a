// The camera's response, recovered from the bracket itself, so that the network sees frames
// in its convention (γ 2.2) whatever curve the camera used.
//
// Model: per channel an inverse response g: code z ∈ [0, 1] → relative radiance, g(1) = 1,
// stored as G = ln g at K knots with linear interpolation. Two frames of the same scene t
// stops apart obey g(z_b) = 2^t g(z_a) wherever both saw the same radiance and neither
// clipped. We do not fit pixels: for each pair of frames and channel, the comparametric
// function (the median of one frame's code in each bin of the other's, binned both ways)
// holds the pairs, so moving objects, misaligned edges and noise, which scatter around it,
// leave it where the static scene puts it. Pixels whose codes fall as the exposure grows
// are left out first: that is motion, whatever the curve. The pairs give equations
//   G(z_b) − G(z_a) = t·ln 2     (weighted by the bin's count)
// (Debevec & Malik's, on bin modes instead of pixels; t also carries each frame's error
// from its nominal EV, a few percent in real shutters, estimated with a prior pulling it
// to zero: firmly, since the pairs alone cannot tell a curve g from g^k with every EV × k,
// and a loose prior let that exponent drift from bracket to bracket), solved by least
// squares with a penalty on the curvature of G's departure from γ 2.2, so that codes no
// pair reaches (the darkest, where noise and quantisation rule, and the brightest) follow
// the γ-2.2 shape from the last constrained knot. Iteratively reweighted (Cauchy) against
// outlier bins.
// A bracket that constrains too little of the range keeps γ 2.2, and says so.

import { channelAt, type Image } from "../io/image.ts";
import { GAMMA } from "./exposure.ts";

/** Knots of G over [0, 1], at codes (k / (KNOTS − 1))²: dense near black, where the curve bends. */
export const KNOTS = 65;

/** The code of knot k. */
export const knotCode = (k: number) => (k / (KNOTS - 1)) ** 2;

/** Where code z falls on the knot axis (fractional). */
const knotPos = (z: number) => Math.sqrt(Math.min(Math.max(z, 0), 1)) * (KNOTS - 1);

export interface Response {
  /** Per channel, g at the KNOTS evenly spaced codes 0 … 1 (g(1) = 1, increasing). */
  curves: [Float64Array, Float64Array, Float64Array];
  /** How it was obtained. */
  source: "gamma" | "estimated" | "file";
  /** Share of the code range the bracket's pairs constrained (estimated curves). */
  coverage?: number;
  /** Per channel, the code that means no light (estimated curves). */
  black?: [number, number, number];
}

/** The convention's own curve, g(z) = z^2.2. */
export function gammaResponse(): Response {
  const c = () => Float64Array.from({ length: KNOTS }, (_, k) => Math.pow(knotCode(k), GAMMA));
  return { curves: [c(), c(), c()], source: "gamma" };
}

/** g(z) for one channel, linearly interpolated between knots. */
export function applyCurve(curve: Float64Array, z: number): number {
  const t = knotPos(z);
  const k = Math.min(Math.floor(t), KNOTS - 2), f = t - k;
  return curve[k] + f * (curve[k + 1] - curve[k]);
}

const BINS = 64;
const LO = 0.02, HI = 0.97; // codes trusted in a pair: above the noise floor, below clipping

interface Pair {
  za: number;
  zb: number;
  /** Nominal stops from frame a to frame b. */
  stops: number;
  weight: number;
  /** The frames (indices in exposure order). */
  fa: number;
  fb: number;
}

/**
 * The densest value of `v` (codes in [0, 1]): the peak of a fine, lightly smoothed histogram,
 * refined by the mean of the values near it. Static pixels of a bin agree on one value while
 * moving content scatters, so the mode holds where a median would drift.
 */
function mode(v: number[]): number {
  const n = 256, h = new Float64Array(n + 4);
  for (const x of v) h[2 + Math.min(n - 1, Math.floor(x * n))]++;
  let best = 0, at = 0;
  for (let i = 2; i < n + 2; i++) {
    const s = h[i - 2] + 2 * h[i - 1] + 3 * h[i] + 2 * h[i + 1] + h[i + 2];
    if (s > best) [best, at] = [s, (i - 2 + 0.5) / n];
  }
  let sum = 0, count = 0;
  for (const x of v) {
    if (Math.abs(x - at) <= 3 / n) [sum, count] = [sum + x, count + 1];
  }
  return count ? sum / count : at;
}

/**
 * Pairs for frame a (binned, trusted codes only) against frame b, one channel: per bin, the
 * mode of b's codes, whatever they are (a clipped code still counts, else bins near clipping
 * would be biased low), with the median of a's codes in the bin; a pair whose b is outside
 * the trusted codes is dropped.
 */
function comparametric(
  [a, b]: [Image, Image],
  [fa, fb]: [number, number],
  ch: number,
  stops: number,
  mask: Uint8Array | null,
  out: Pair[],
): void {
  const n = a.width * a.height, c = a.channels;
  const xs: number[][] = Array.from({ length: BINS }, () => []),
    ys: number[][] = Array.from({ length: BINS }, () => []);
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const za = a.data[i * c + ch], zb = b.data[i * c + ch];
    if (za < LO || za > HI) continue;
    const k = Math.min(BINS - 1, Math.floor(za * BINS));
    xs[k].push(za);
    ys[k].push(zb);
  }
  // A bin holding a sliver of the image is often one object (a lamp, a moving thing): too
  // few pixels to speak for the scene. What such bins leave open follows γ 2.2's shape.
  const least = Math.max(16, 0.0005 * n);
  for (let k = 0; k < BINS; k++) {
    if (xs[k].length < least) continue;
    const zb = mode(ys[k]);
    if (zb < LO || zb > HI) continue;
    const x = xs[k].sort((p, q) => p - q);
    out.push({ za: x[x.length >> 1], zb, stops, weight: x.length / n, fa, fb });
  }
}

/** Solves the small dense system A x = b (Gaussian elimination with pivoting). */
function solve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = a.slice(), x = b.slice();
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(m[r * n + col]) > Math.abs(m[p * n + col])) p = r;
    }
    if (p !== col) {
      for (let k = 0; k < n; k++) [m[col * n + k], m[p * n + k]] = [m[p * n + k], m[col * n + k]];
      [x[col], x[p]] = [x[p], x[col]];
    }
    const d = m[col * n + col];
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col] / d;
      if (f === 0) continue;
      for (let k = col; k < n; k++) m[r * n + k] -= f * m[col * n + k];
      x[r] -= f * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= m[r * n + k] * x[k];
    x[r] = s / m[r * n + r];
  }
  return x;
}

/** Knot weights of code z: [index, weight] for the two knots around it. */
function knotsOf(z: number): [number, number, number, number] {
  const t = knotPos(z), k = Math.min(Math.floor(t), KNOTS - 2), f = t - k;
  return [k, 1 - f, k + 1, f];
}

/**
 * The three channels' curves from their pairs, solved together. Unknowns are each channel's
 * departure from γ 2.2, D_c(k) = G_c(k) − 2.2·ln(k/(K−1)) for knots 1 … K−2 (D_c = 0 at
 * code 1: g(1) = 1). Penalties: the curvature of D_c (`smooth`), and the channels' departures
 * from their mean (`tie`): a camera's JPEG curve is one curve applied after white balance, so
 * where the data do not say the channels differ they stay together, and a range that one
 * channel's pairs miss cannot become a colour cast.
 */
function fit(
  pairs: Pair[][],
  frames: number,
  o: { smooth: number; tie: number; exposure: number },
): Float64Array[] {
  // Curve unknowns per channel, then each frame's exposure error (ln units) after the first.
  const per = KNOTS - 2, n = 3 * per + frames - 1;
  const offset = (f: number) => (f === 0 ? -1 : 3 * per + f - 1);
  const prior = (k: number) => GAMMA * Math.log(knotCode(k)); // pairs never reach knot 0
  const unknown = (c: number, k: number) => (k >= 1 && k <= per ? c * per + k - 1 : -1);
  const w = pairs.map((ps) => ps.map((p) => p.weight));
  let d: Float64Array = new Float64Array(n);
  for (let iter = 0; iter < 6; iter++) {
    const ata = new Float64Array(n * n), atb = new Float64Array(n);
    const add = (idx: number[], co: number[], rhs: number, wt: number) => {
      for (let i = 0; i < idx.length; i++) {
        if (idx[i] < 0) continue;
        atb[idx[i]] += wt * co[i] * rhs;
        for (let j = 0; j < idx.length; j++) {
          if (idx[j] >= 0) ata[idx[i] * n + idx[j]] += wt * co[i] * co[j];
        }
      }
    };
    const residuals: number[][] = [[], [], []];
    for (let c = 0; c < 3; c++) {
      for (const [pi, p] of pairs[c].entries()) {
        // G(z_b) − G(z_a) = (t + e_b − e_a)·ln 2, G = prior + D interpolated between knots.
        const [ka, wa, ka2, wa2] = knotsOf(p.za), [kb, wb, kb2, wb2] = knotsOf(p.zb);
        const rhs = p.stops * Math.LN2 -
          (wb * prior(kb) + wb2 * prior(kb2) - wa * prior(ka) - wa2 * prior(ka2));
        const idx = [
          unknown(c, kb),
          unknown(c, kb2),
          unknown(c, ka),
          unknown(c, ka2),
          offset(p.fb),
          offset(p.fa),
        ];
        const co = [wb, wb2, -wa, -wa2, -1, 1];
        add(idx, co, rhs, w[c][pi]);
        residuals[c].push(rhs - idx.reduce((s, u, i) => s + (u >= 0 ? co[i] * d[u] : 0), 0));
      }
      for (let k = 1; k <= per; k++) {
        // curvature (D at knot 0 taken as D at knot 1: a flat start)
        add(
          [unknown(c, Math.max(k - 1, 1)), unknown(c, k), unknown(c, k + 1)],
          [1, -2, 1],
          0,
          o.smooth,
        );
        // the tie: D_c − mean of the three
        const idx = [0, 1, 2].map((q) => unknown(q, k));
        add(idx, [0, 1, 2].map((q) => (q === c ? 2 / 3 : -1 / 3)), 0, o.tie);
      }
    }
    // Exposures are near their nominal EVs (a shutter is off by a few percent).
    for (let f = 1; f < frames; f++) add([offset(f)], [1], 0, o.exposure);
    for (let k = 0; k < n; k++) ata[k * n + k] += 1e-6; // a tiny pull to γ 2.2 keeps it solvable
    d = solve(ata, atb, n);
    if (iter > 0) {
      // Cauchy weights from the residuals' robust scale, per channel.
      for (let c = 0; c < 3; c++) {
        const abs = residuals[c].map(Math.abs).sort((a, b) => a - b);
        const s = Math.max(1.4826 * (abs[abs.length >> 1] ?? 0), 0.01);
        residuals[c].forEach((
          r,
          i,
        ) => (w[c][i] = pairs[c][i].weight / (1 + (r / (2.385 * s)) ** 2)));
      }
    }
  }
  return [0, 1, 2].map((c) => {
    const g = new Float64Array(KNOTS);
    for (let k = 1; k < KNOTS; k++) g[k] = Math.exp(prior(k) + (k <= per ? d[unknown(c, k)] : 0));
    for (let k = 1; k < KNOTS; k++) g[k] = Math.max(g[k], g[k - 1] + 1e-9); // increasing
    return g.map((v) => v / g[KNOTS - 1]);
  });
}

/**
 * The black level of one channel: the fixed point of the comparametric function near black.
 * A response z = f(k·E) with f(0) = z0 gives, for two exposures, z_b − z0 ≈ s·(z_a − z0) at
 * low codes: a line through (z0, z0). Fitted per frame pair on its low codes (longer frame
 * below 0.6), the weighted median over pairs; 0 for a camera whose black is black.
 */
function blackLevel(pairs: Pair[]): number {
  const groups = new Map<string, Pair[]>();
  for (const p of pairs) {
    if (p.stops > 0 && p.za <= 0.3 && p.zb <= 0.6) {
      const key = `${p.fa},${p.fb}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(p);
    }
  }
  const found: { z0: number; weight: number }[] = [];
  for (const ps of groups.values()) {
    if (ps.length < 3) continue;
    let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const p of ps) {
      [sw, sx, sy] = [sw + p.weight, sx + p.weight * p.za, sy + p.weight * p.zb];
      [sxx, sxy] = [sxx + p.weight * p.za * p.za, sxy + p.weight * p.za * p.zb];
    }
    const slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx), icept = (sy - slope * sx) / sw;
    if (slope > 1.05) found.push({ z0: icept / (1 - slope), weight: sw });
  }
  if (!found.length) return 0;
  found.sort((a, b) => a.z0 - b.z0);
  const half = found.reduce((s, f) => s + f.weight, 0) / 2;
  let acc = 0;
  const median = found.find((f) => (acc += f.weight) >= half)!.z0;
  return Math.min(Math.max(median, 0), 0.25);
}

/**
 * Pixels whose codes never fall as the exposure grows (frames shortest first), in any
 * channel, beyond noise: a response is increasing, so a fall is something that moved (a
 * bright object in the short frame over darker background in the long one, or the reverse).
 */
function steadyPixels(frames: Image[], given?: Uint8Array): Uint8Array {
  const { width, height, channels: c } = frames[0], n = width * height;
  const out = given ? given.slice() : new Uint8Array(n).fill(1);
  for (let f = 1; f < frames.length; f++) {
    const a = frames[f - 1].data, b = frames[f].data;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < c; k++) if (b[i * c + k] < a[i * c + k] - 0.03) out[i] = 0;
    }
  }
  return out;
}

export interface EstimateOptions {
  /** Pixels to use (1) or ignore (0), e.g. a border no frame covers; default all. */
  mask?: Uint8Array;
  /** Curvature penalty (default 1); larger keeps closer to γ 2.2's shape. */
  smooth?: number;
  /** Penalty on the channels' departures from their mean curve (default 10). */
  tie?: number;
  /** Penalty on the frames' exposures departing from their nominal EVs (default 30). */
  exposure?: number;
  /** Below this share of codes constrained, keep γ 2.2 (default 0.35). */
  minCoverage?: number;
}

/**
 * The inverse response of a bracket's camera, per channel, from frames and their EVs (any
 * order and origin). Frames must show the same static scene in most pixels (align first).
 */
export function estimateResponse(ldrs: Image[], evs: number[], o: EstimateOptions = {}): Response {
  const order = evs.map((_, i) => i).sort((a, b) => evs[a] - evs[b]);
  const mask = steadyPixels(order.map((i) => ldrs[i]), o.mask);
  const pairs: Pair[][] = [[], [], []];
  const covered = new Uint8Array(33); // the code range in 32 steps
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < order.length; i++) {
      for (let j = i + 1; j < order.length && j <= i + 2; j++) {
        const a = ldrs[order[i]], b = ldrs[order[j]], t = evs[order[j]] - evs[order[i]];
        if (t <= 0.05) continue;
        const chan = Math.min(ch, a.channels - 1);
        comparametric([a, b], [i, j], chan, t, mask, pairs[ch]);
        comparametric([b, a], [j, i], chan, -t, mask, pairs[ch]);
      }
    }
    for (const p of pairs[ch]) {
      covered[Math.round(p.za * 32)] = 1;
      covered[Math.round(p.zb * 32)] = 1;
    }
  }
  const coverage = covered.reduce((s, v) => s + v, 0) / covered.length;
  if (coverage < (o.minCoverage ?? 0.35)) return { ...gammaResponse(), coverage };
  // Codes at or below a black level (film fog, a scanner's or camera's pedestal) hold no
  // radiance: the curve is fitted on codes measured from it, z' = (z − z0) / (1 − z0).
  const black = pairs.map(blackLevel);
  const shifted = pairs.map((ps, c) => {
    const z0 = black[c], s = (z: number) => (z - z0) / (1 - z0);
    return ps.map((p) => ({ ...p, za: s(p.za), zb: s(p.zb) })).filter((p) =>
      p.za >= 0.002 && p.zb >= 0.002
    );
  });
  const fitted = fit(shifted, order.length, {
    smooth: o.smooth ?? 1,
    tie: o.tie ?? 10,
    exposure: o.exposure ?? 30,
  });
  const curves = fitted.map((g, c) => {
    const z0 = black[c];
    return Float64Array.from({ length: KNOTS }, (_, k) => {
      const z = knotCode(k);
      return z <= z0 ? 0 : applyCurve(g, (z - z0) / (1 - z0));
    });
  }) as Response["curves"];
  return { curves, source: "estimated", coverage, black: black as [number, number, number] };
}

/** A frame re-encoded in the network's convention: L' = g(L)^(1/2.2), per channel. */
export function toConvention(ldr: Image, r: Response): Image {
  return toConventionBy(ldr, r.curves.map((curve) => (z: number) => applyCurve(curve, z)));
}

/**
 * A frame re-encoded in the network's convention through per-channel inverse responses g
 * (code in [0, 1] → relative radiance): L' = g(L)^(1/2.2).
 */
export function toConventionBy(ldr: Image, inverses: ((z: number) => number)[]): Image {
  const n = ldr.width * ldr.height, out = new Float32Array(n * 3);
  // A 4096-entry table per channel (one per distinct g): frames are 8- or 16-bit, the table
  // error is < 1e-4.
  const size = 4096, made = new Map<(z: number) => number, Float32Array>();
  const tables = inverses.map((g) => {
    if (!made.has(g)) {
      made.set(
        g,
        Float32Array.from({ length: size + 1 }, (_, i) => Math.pow(g(i / size), 1 / GAMMA)),
      );
    }
    return made.get(g)!;
  });
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const z = Math.min(Math.max(channelAt(ldr, i, k), 0), 1) * size;
      const j = Math.min(Math.floor(z), size - 1), f = z - j, t = tables[k];
      out[i * 3 + k] = t[j] + f * (t[j + 1] - t[j]);
    }
  }
  return { ...ldr, channels: 3, data: out };
}

/** The response as a JSON document (`infer` saves it beside its output; --response reads it). */
export function responseToJson(r: Response): string {
  return JSON.stringify({
    format: "lfdiff-response",
    version: 1,
    knots: KNOTS,
    note: "inverse response g per channel (R, G, B) at codes (k/(knots-1))^2; g(1) = 1",
    coverage: r.coverage,
    curves: r.curves.map((c) => Array.from(c, (v) => Number(v.toPrecision(7)))),
  });
}

/** A saved response, checked; `file` names it in errors. */
export function responseFromJson(text: string, file: string): Response {
  let j: { format?: unknown; knots?: unknown; curves?: unknown };
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not a response file (not JSON)`);
  }
  if (j.format !== "lfdiff-response" || j.knots !== KNOTS || !Array.isArray(j.curves)) {
    throw new Error(`${file}: not an lfdiff response file of ${KNOTS} knots`);
  }
  const curves = j.curves.map((c: unknown) => {
    if (!Array.isArray(c) || c.length !== KNOTS || c.some((v) => typeof v !== "number")) {
      throw new Error(`${file}: each curve must hold ${KNOTS} numbers`);
    }
    const a = Float64Array.from(c as number[]);
    if (a.some((v, k) => !Number.isFinite(v) || (k > 0 && v < a[k - 1])) || a[KNOTS - 1] <= 0) {
      throw new Error(`${file}: a curve is not finite and non-decreasing`);
    }
    return a.map((v) => v / a[KNOTS - 1]);
  });
  if (curves.length !== 3) throw new Error(`${file}: needs 3 curves (R, G, B)`);
  return { curves: curves as Response["curves"], source: "file" };
}

/** One line on a response, for people: where it came from and its shape at mid-grey. */
export function describeResponse(r: Response | null): string {
  if (!r) return "none (linear frames)";
  const mid = (c: Float64Array) => Math.log(applyCurve(c, 0.5)) / Math.log(0.5);
  const shape = `effective γ at code 0.5: ${r.curves.map((c) => mid(c).toFixed(2)).join("/")}`;
  if (r.source === "gamma") {
    return r.coverage === undefined
      ? "γ 2.2 (as given)"
      : `γ 2.2: the bracket constrains only ${(100 * r.coverage).toFixed(0)}% of the codes`;
  }
  if (r.source === "file") return `from a file (${shape})`;
  // Camera curves sit near γ 2.2–3 at mid-grey (sRGB 2.2, the S-curves of real JPEGs up to
  // about 3). Far outside, the EVs are the likelier error: the pairs cannot tell a curve g
  // from g^k with every EV times k, so EVs off by a factor bend the curve by that power.
  const odd = r.curves.some((c) => mid(c) < MID_GAMMA[0] || mid(c) > MID_GAMMA[1]);
  return `estimated from the bracket (${(100 * r.coverage!).toFixed(0)}% of codes; black ${
    r.black!.map((b) => Math.round(255 * b)).join("/")
  } of 255; ${shape})${
    odd
      ? `; unlike a camera's curve (γ ${MID_GAMMA.join("–")} at mid-grey): check the EVs, ` +
        "an EV spacing off by a factor k bends the curve by the power k"
      : ""
  }`;
}

/** The effective γ at code 0.5 that camera curves fall in; outside it describeResponse warns. */
const MID_GAMMA = [1.6, 3.6];
