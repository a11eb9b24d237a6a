// Robust inverse-compositional Lucas–Kanade (Baker & Matthews, "Lucas-Kanade 20 years on",
// IJCV 2004) at one pyramid level: the warp H that makes image(H·x) match template(x).
// - The template's gradients are taken once (prepareTemplate, shared by every frame and
//   model); each iteration samples the image (bilinear) at the warped points and composes
//   H with the inverse of the step.
// - Only pixels with texture take part: the stronger-gradient half of the template's valid
//   pixels, thinned evenly (by a hash of the position) to at most `maxPoints`.
// - A gain, an offset and a blur are solved with the warp, so a transfer curve that is
//   slightly off, or a frame softer or sharper than the reference (interpolation, motion
//   blur, noise reduction), does not pull the geometry. The blur term is the template's
//   Laplacian: a small Gaussian blur adds (σ²/2)·∇²T. Without it, least squares turns a
//   blur difference into a zoom (a frame blurred by [1 2 1] came out 1.3 px off at the
//   corners of a 320×240 image; with it, 0.007 px).
// - Tukey's biweight on residuals scaled by their median absolute deviation makes movers
//   and the parts one frame clips weigh nothing (iteratively reweighted least squares).

import { compose, type Homography, invert, solveSpd } from "./homography.ts";
import { gradients, type Plane, quantile, sample } from "./plane.ts";

export type MotionModel = "translation" | "homography";

/** A level of the reference, ready to be matched: its textured points. */
export interface Template {
  width: number;
  height: number;
  /** Pixel index of each point, and the template's value and gradient there. */
  index: Int32Array;
  value: Float32Array;
  gx: Float32Array;
  gy: Float32Array;
  lap: Float32Array;
}

export interface LkOptions {
  iterations?: number;
  /** Stop once a step moves no corner of the image by more than this (pixels of the level). */
  tolerance?: number;
}

/**
 * A pixel takes part where at least this share of its smoothing kernel fell on valid pixels
 * (plane.ts smoothValid), in the template and, at the warped position, in the image.
 */
const MIN_COVERAGE = 0.9;
/** Photometric terms solved with the warp: gain, offset, blur (see the header). */
const PHOTOMETRIC = 3;
/** Tukey's constant for 95% efficiency under Gaussian noise. */
const TUKEY = 4.685;
/** Floor of the residuals' scale: about a code of an 8-bit frame. */
const MIN_SIGMA = 0.004;

/** The textured covered pixels of `plane` (at most maxPoints of them) with their gradients. */
export function prepareTemplate(plane: Plane, coverage: Plane, maxPoints = 40_000): Template {
  const { width: w, height: h } = plane, g = gradients(plane);
  const mag = new Float32Array(w * h);
  let valid = 0, top = 0;
  for (let i = 0; i < w * h; i++) {
    if (!(coverage.data[i] >= MIN_COVERAGE)) continue;
    const m = Math.sqrt(g.gx[i] * g.gx[i] + g.gy[i] * g.gy[i]);
    mag[valid++] = m;
    if (m > top) top = m;
  }
  const floor = Math.max(quantile(mag, 0.5, top || 1, valid), 1e-6);
  const keep = Math.min(1, maxPoints / Math.max(1, valid / 2));
  const chosen: number[] = [];
  for (let i = 0; i < w * h; i++) {
    if (
      !(coverage.data[i] >= MIN_COVERAGE) || g.gx[i] * g.gx[i] + g.gy[i] * g.gy[i] < floor * floor
    ) continue;
    // An even thinning that no row or column pattern in the image can alias with.
    const hash = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
    if (hash / 2 ** 32 < keep) chosen.push(i);
  }
  const index = Int32Array.from(chosen), n = index.length;
  const t: Template = {
    width: w,
    height: h,
    index,
    value: new Float32Array(n),
    gx: new Float32Array(n),
    gy: new Float32Array(n),
    lap: new Float32Array(n),
  };
  for (let k = 0; k < n; k++) {
    t.value[k] = plane.data[index[k]];
    t.gx[k] = g.gx[index[k]];
    t.gy[k] = g.gy[index[k]];
    const i = index[k], x = i % w, y = (i - x) / w, d = plane.data;
    const l = d[i - (x > 0 ? 1 : 0)], r = d[i + (x < w - 1 ? 1 : 0)];
    const u = d[i - (y > 0 ? w : 0)], dn = d[i + (y < h - 1 ? w : 0)];
    t.lap[k] = l + r + u + dn - 4 * d[i];
  }
  return t;
}

/**
 * Per point, image(H·x) − template(x), or NaN where H·x leaves the image or lands where the
 * image's coverage is short.
 */
function differences(t: Template, image: Plane, cover: Plane, warp: Homography, out: Float32Array) {
  const w = t.width, h = t.height, [a, b, c, d, e, f, g, k, l] = warp;
  for (let q = 0; q < t.index.length; q++) {
    const i = t.index[q], x = i % w, y = (i - x) / w;
    const z = g * x + k * y + l, u = (a * x + b * y + c) / z, v = (d * x + e * y + f) / z;
    out[q] = u >= 0 && v >= 0 && u <= w - 1 && v <= h - 1 && sample(cover, u, v) >= MIN_COVERAGE
      ? sample(image, u, v) - t.value[q]
      : NaN;
  }
}

/**
 * Refines H (level pixels; image(H·x) ≈ template(x)) under the given motion model. Points
 * whose warped position leaves the image or lands on an invalid image pixel drop out.
 */
export function refineWarp(
  t: Template,
  image: Plane,
  imageCoverage: Plane,
  start: Homography,
  model: MotionModel,
  o: LkOptions = {},
): Homography {
  const { width: w, height: h } = t, count = t.index.length;
  const iterations = o.iterations ?? 20, tolerance = o.tolerance ?? 0.002;
  const geo = model === "homography" ? 8 : 2;
  const n = geo + PHOTOMETRIC;
  if (count < 4 * n) return start;

  // Normalised coordinates (centre 0, half the longer side 1) keep the 8×8 system
  // well conditioned: x̃ = N·x.
  const cx = (w - 1) / 2, cy = (h - 1) / 2, s = Math.max(w, h) / 2;
  const norm = [1 / s, 0, -cx / s, 0, 1 / s, -cy / s, 0, 0, 1];
  const denorm = [s, 0, cx, 0, s, cy, 0, 0, 1];

  // Per point: its Jacobian row (geometry, then gain, offset and blur).
  const jac = new Float64Array(count * n);
  for (let k = 0; k < count; k++) {
    const i = t.index[k], x = ((i % w) - cx) / s, y = (Math.floor(i / w) - cy) / s;
    const ux = t.gx[k] * s, uy = t.gy[k] * s, row = k * n;
    if (geo === 8) {
      const r = ux * x + uy * y;
      jac.set([ux * x, ux * y, ux, uy * x, uy * y, uy, -x * r, -y * r], row);
    } else {
      jac[row] = ux;
      jac[row + 1] = uy;
    }
    jac[row + geo] = t.value[k];
    jac[row + geo + 1] = 1;
    jac[row + geo + 2] = t.lap[k];
  }

  let warp = start.slice();
  const coef = new Float64Array(PHOTOMETRIC);
  const diff = new Float32Array(count), size = new Float32Array(count);
  const a = new Float64Array(n * n), b = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    differences(t, image, imageCoverage, warp, diff);
    let m = 0;
    for (let k = 0; k < count; k++) {
      if (diff[k] !== diff[k]) continue;
      for (let j = 0; j < PHOTOMETRIC; j++) diff[k] -= coef[j] * jac[k * n + geo + j];
      size[m++] = Math.abs(diff[k]);
    }
    if (m < 4 * n) break;
    const sigma = Math.max(MIN_SIGMA, 1.4826 * quantile(size, 0.5, 1, m));
    a.fill(0);
    b.fill(0);
    for (let k = 0; k < count; k++) {
      const r = diff[k], u = r / (TUKEY * sigma);
      if (!(u * u < 1)) continue; // NaN (dropped) too
      const wt = (1 - u * u) ** 2, row = k * n;
      for (let p = 0; p < n; p++) {
        const jr = wt * jac[row + p];
        b[p] += jr * r;
        for (let c = 0; c <= p; c++) a[p * n + c] += jr * jac[row + c];
      }
    }
    for (let p = 0; p < n; p++) for (let c = 0; c < p; c++) a[c * n + p] = a[p * n + c];
    const step = solveSpd(a, b, n);
    if (!step) break;
    const d = step;
    const delta = geo === 8
      ? [1 + d[0], d[1], d[2], d[3], 1 + d[4], d[5], d[6], d[7], 1]
      : [1, 0, d[0], 0, 1, d[1], 0, 0, 1];
    let inverse: Homography;
    try {
      inverse = invert(compose(denorm, compose(delta, norm)));
    } catch {
      break;
    }
    warp = compose(warp, inverse);
    for (let j = 0; j < PHOTOMETRIC; j++) coef[j] += step[geo + j];
    // How far the step moved the image's corners, in pixels of this level.
    let moved = 0;
    for (const [x, y] of [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]) {
      const z = inverse[6] * x + inverse[7] * y + inverse[8];
      const u = (inverse[0] * x + inverse[1] * y + inverse[2]) / z - x;
      const v = (inverse[3] * x + inverse[4] * y + inverse[5]) / z - y;
      moved = Math.max(moved, Math.sqrt(u * u + v * v));
    }
    if (moved < tolerance) break;
  }
  return warp;
}

/**
 * For each warp, the median |image(H·x) − template(x)| over the template's points that every
 * warp keeps inside the image and on covered image pixels (NaN when none). A median, so
 * movers and what one frame clips do not weigh unless they cover half the points.
 */
export function medianResiduals(
  t: Template,
  image: Plane,
  imageCoverage: Plane,
  warps: Homography[],
): number[] {
  const count = t.index.length;
  const diffs = warps.map((h) => {
    const d = new Float32Array(count);
    differences(t, image, imageCoverage, h, d);
    return d;
  });
  const kept = diffs.map(() => new Float32Array(count));
  let used = 0;
  for (let k = 0; k < count; k++) {
    if (diffs.some((d) => d[k] !== d[k])) continue;
    diffs.forEach((d, j) => kept[j][used] = Math.abs(d[k]));
    used++;
  }
  return kept.map((v) => used ? v.subarray(0, used).sort()[used >> 1] : NaN);
}
