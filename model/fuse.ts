// Fusing one bracket of any size: reflect-pad to the network's size multiple, run whole or
// in overlapping tiles, blend, crop back. Tiles share one starting-noise field (drawn for
// the whole padded image) so the diffusion prior is continuous across them; outputs are
// blended with weights that ramp linearly across each overlap. Global operations (channel
// attention, transposed attention) see only their tile, so tiled results differ slightly.

import { noGrad } from "../ops/autograd.ts";
import { Rng } from "../ops/rng.ts";
import { scope } from "../ops/scope.ts";
import { type Tensor, tensor } from "../ops/tensor.ts";
import { sizeMultiple } from "./config.ts";
import { bracketInputs } from "./inputs.ts";
import type { LFDiff } from "./lfdiff.ts";

/** Interleaved float pixels, as io/image.ts's Image (structural, so model/ needs no io/). */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

export interface FuseOptions {
  /** Exposures in stops, one per frame. */
  evs: number[];
  /** DDIM steps (default: the model's). */
  steps?: number;
  seed?: number;
  /** Largest tile side in pixels; 0 runs the whole image at once. */
  tile?: number;
  /** Tile overlap in pixels (rounded up to the size multiple). */
  overlap?: number;
  device?: string;
  /** Ground truth, for the s1 variant only. */
  gt?: Pixels;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface FuseTimings {
  prior: number;
  reconstruction: number;
  total: number;
}

/** Planar [1, 3, H, W] of the RGB channels of `img`, reflect-padded to ph×pw. */
function planarPadded(img: Pixels, ph: number, pw: number): Float32Array {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Float32Array(3 * ph * pw);
  const sx = Int32Array.from({ length: pw }, (_, x) => reflect(x, w) * c);
  for (let y = 0; y < ph; y++) {
    const row = reflect(y, h) * w * c;
    for (let k = 0; k < 3; k++) {
      const o = (k * ph + y) * pw, kk = row + (c >= 3 ? k : 0);
      for (let x = 0; x < pw; x++) out[o + x] = data[kk + sx[x]];
    }
  }
  return out;
}

/** Index i reflected into [0, n) (no edge repeat), as F.pad(mode="reflect"). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * (n - 1), m = ((i % p) + p) % p;
  return m < n ? m : p - m;
}

function tileStarts(size: number, tile: number, overlap: number, multiple: number): number[] {
  if (tile >= size) return [0];
  const step = Math.max(multiple, tile - overlap);
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += step) starts.push(s);
  starts.push(size - tile);
  return starts;
}

/** Blend weight along one axis of a tile: ramps over the overlap where a neighbour is. */
function ramp(n: number, overlap: number, before: boolean, after: boolean): Float32Array {
  const w = new Float32Array(n).fill(1);
  for (let i = 0; i < overlap && i < n; i++) {
    const v = (i + 0.5) / overlap;
    if (before) w[i] = Math.min(w[i], v);
    if (after) w[n - 1 - i] = Math.min(w[n - 1 - i], v);
  }
  return w;
}

export function fuseBracket(
  model: LFDiff,
  ldrs: Pixels[],
  o: FuseOptions,
): { hdr: Pixels; timings: FuseTimings } {
  const c = model.config, m = sizeMultiple(c);
  const { width: w, height: h } = ldrs[1];
  for (const [i, l] of ldrs.entries()) {
    if (l.width !== w || l.height !== h) {
      throw new Error(`frame ${i + 1} is ${l.width}x${l.height}, the reference ${w}x${h}`);
    }
  }
  if (c.variant === "s1" && !o.gt) {
    throw new Error("the s1 variant needs the ground truth (it is a stage-1 diagnostic)");
  }
  const ph = Math.ceil(h / m) * m, pw = Math.ceil(w / m) * m;
  const frames = ldrs.map((l) => planarPadded(l, ph, pw));
  const gt = o.gt ? planarPadded(o.gt, ph, pw) : null;
  const k = c.unshuffle;
  const noise = c.variant === "s2"
    ? new Rng(o.seed ?? 0).normal(c.priorChannels * (ph / k) * (pw / k))
    : null;
  const tile = o.tile ? Math.max(m, Math.floor(o.tile / m) * m) : Math.max(ph, pw);
  const overlap = Math.ceil((o.overlap ?? 64) / m) * m;
  const ys = tileStarts(ph, Math.min(tile, ph), overlap, m),
    xs = tileStarts(pw, Math.min(tile, pw), overlap, m);
  const th = Math.min(tile, ph), tw = Math.min(tile, pw);
  const acc = new Float32Array(3 * ph * pw), wsum = new Float32Array(ph * pw);
  const timings: FuseTimings = { prior: 0, reconstruction: 0, total: 0 };
  const t0 = performance.now();
  const total = ys.length * xs.length;
  let done = 0;
  const cut = (
    src: Float32Array,
    ch: number,
    hh: number,
    ww: number,
    y0: number,
    x0: number,
    ch2: number,
    cw2: number,
  ): Tensor => {
    const t = new Float32Array(ch * ch2 * cw2);
    for (let q = 0; q < ch; q++) {
      for (let y = 0; y < ch2; y++) {
        t.set(
          src.subarray((q * hh + y0 + y) * ww + x0, (q * hh + y0 + y) * ww + x0 + cw2),
          (q * ch2 + y) * cw2,
        );
      }
    }
    return tensor(t, [1, ch, ch2, cw2], { device: o.device });
  };
  noGrad(() => {
    for (const [yi, y0] of ys.entries()) {
      for (const [xi, x0] of xs.entries()) {
        const out = scope(() => {
          const l = frames.map((f) => cut(f, 3, ph, pw, y0, x0, th, tw));
          const [x1, x2, x3] = bracketInputs(l, o.evs);
          let tr = performance.now();
          const tp = tr;
          const y = model.forward(x1, x2, x3, {
            gt: gt ? cut(gt, 3, ph, pw, y0, x0, th, tw) : undefined,
            zT: noise
              ? cut(noise, c.priorChannels, ph / k, pw / k, y0 / k, x0 / k, th / k, tw / k)
              : undefined,
            steps: o.steps,
            onProgress: (stage, i, n) => {
              if (stage === "reconstruction" && i === 0) tr = performance.now();
              else {
                const what = stage === "prior" ? "DDIM step" : "reconstruction block";
                o.onProgress?.(`tile ${done + 1}/${total} ${what}`, i, n);
              }
            },
          });
          timings.prior += tr - tp;
          timings.reconstruction += performance.now() - tr;
          return y.toArray();
        });
        const wy = ramp(th, overlap, yi > 0, yi < ys.length - 1),
          wx = ramp(tw, overlap, xi > 0, xi < xs.length - 1);
        for (let y = 0; y < th; y++) {
          const row = (y0 + y) * pw + x0;
          for (let x = 0; x < tw; x++) wsum[row + x] += wy[y] * wx[x];
          for (let q = 0; q < 3; q++) {
            const a = q * ph * pw + row, b = (q * th + y) * tw;
            for (let x = 0; x < tw; x++) acc[a + x] += wy[y] * wx[x] * out[b + x];
          }
        }
        o.onProgress?.("tiles", ++done, total);
      }
    }
  });
  timings.total = performance.now() - t0;
  const hdr: Pixels = { width: w, height: h, channels: 3, data: new Float32Array(w * h * 3) };
  for (let y = 0; y < h; y++) {
    for (let q = 0; q < 3; q++) {
      const a = q * ph * pw + y * pw, r = y * pw;
      for (let x = 0; x < w; x++) hdr.data[(y * w + x) * 3 + q] = acc[a + x] / wsum[r + x];
    }
  }
  return { hdr, timings };
}
