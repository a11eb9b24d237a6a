// Moving objects: textures cut from other radiance maps (or from their brightest spots:
// lamps, windows, the sun, for objects far brighter than the background), inside soft,
// irregular masks (a superellipse with a wobbly outline), moving between frames with their
// own velocity, acceleration, spin, growth and a non-rigid wave warp; some cross the frame
// edge. Everything here is in canvas pixels (the supersampled raster the frames are drawn on)
// and world coordinates (the scene before the camera's shake).

import type { Rng } from "../../ops/rng.ts";
import { type RadianceMap, usableRows } from "./maps.ts";
import { resampleRegion } from "./resample.ts";
import { luminance } from "./maps.ts";

export interface MovingObject {
  /** Side of the square texture and mask rasters; the object's centre is at their centre. */
  n: number;
  tex: Float32Array;
  mask: Float32Array;
  /** Centre in the reference frame, velocity and acceleration per frame. */
  cx: number;
  cy: number;
  vx: number;
  vy: number;
  ax: number;
  ay: number;
  /** Rotation (radians) and log-scale change per frame. */
  spin: number;
  grow: number;
  /** Wave warp: displacement amplitude per frame (canvas px), wavenumber, phases. */
  warp: number;
  wave: number;
  phase: [number, number];
  /** For the scene description: the texture's map and whether it is a light. */
  source: string;
  bright: boolean;
}

export interface ObjectContext {
  /** Canvas size (the output frame, supersampled). */
  width: number;
  height: number;
  /** Supersampling factor: canvas pixels per output pixel. */
  ss: number;
  /** Map pixels per canvas pixel of the background, for a matching texture scale. */
  step: number;
  /** Median luminance of the background, in scene units. */
  median: number;
}

const logUniform = (rng: Rng, lo: number, hi: number) => lo * Math.pow(hi / lo, rng.float());

/** Soft mask of a superellipse with a wobbly outline, n×n, edge `soft` pixels wide. */
function blobMask(n: number, rx: number, ry: number, rng: Rng, soft: number): Float32Array {
  const p = 1.6 + 3.4 * rng.float();
  const harmonics = [2, 3, 4, 5].map((k) => ({
    k,
    amp: (0.18 * rng.float()) / k,
    ph: 2 * Math.PI * rng.float(),
  }));
  const m = new Float32Array(n * n), r = Math.min(rx, ry), half = n / 2;
  for (let j = 0; j < n; j++) {
    const b = (j + 0.5 - half) / ry;
    for (let i = 0; i < n; i++) {
      const a = (i + 0.5 - half) / rx;
      const rho = Math.pow(Math.pow(Math.abs(a), p) + Math.pow(Math.abs(b), p), 1 / p);
      if (rho > 1.6) continue;
      const phi = Math.atan2(b, a);
      let edge = 1;
      for (const h of harmonics) edge += h.amp * Math.cos(h.k * phi + h.ph);
      const alpha = 0.5 - ((rho - edge) * r) / soft;
      m[j * n + i] = alpha <= 0 ? 0 : alpha >= 1 ? 1 : alpha;
    }
  }
  return m;
}

/** Median luminance of the pixels a mask covers. */
function maskedMedian(tex: Float32Array, mask: Float32Array): number {
  const lum: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] > 0.5) lum.push(luminance(tex[3 * i], tex[3 * i + 1], tex[3 * i + 2]));
  }
  lum.sort((a, b) => a - b);
  return Math.max(lum[lum.length >> 1] ?? 0, 1e-6);
}

/**
 * One object textured from `map`. Sizes (radius 4–30% of the frame height), speeds
 * (0.3–10% of the frame width per frame, mostly sideways) and the rest are drawn at random;
 * a third of the objects start at a frame edge and cross it. Bright objects (lights) keep
 * the radiance ratio of their map's brightest spot to its median, times 1–16.
 */
export function sampleObject(
  rng: Rng,
  map: RadianceMap,
  c: ObjectContext,
  bright: boolean,
): MovingObject {
  const { width: w, height: h, ss } = c;
  const r = h * logUniform(rng, 0.04, 0.3);
  const aspect = logUniform(rng, 0.5, 2);
  const rx = r * Math.sqrt(aspect), ry = r / Math.sqrt(aspect);
  const soft = ss * (0.5 + 2.5 * rng.float());
  const n = 2 * Math.ceil(1.45 * Math.max(rx, ry) + soft) + 2;
  const mask = blobMask(n, rx, ry, rng, soft);

  // Texture: a region of the map at about the background's scale.
  const [r0, r1] = usableRows(map);
  const step = Math.min(c.step * logUniform(rng, 0.4, 1.2), (r1 - r0) / n);
  let x0: number, y0: number;
  if (bright && map.bright.length) {
    const b = map.bright[rng.int(map.bright.length)];
    x0 = (b % map.width) - (n / 2) * step * (0.4 + 1.2 * rng.float());
    y0 = Math.floor(b / map.width) - (n / 2) * step * (0.4 + 1.2 * rng.float());
  } else {
    x0 = rng.float() * (map.width - (map.panorama ? 0 : n * step));
    y0 = r0 + rng.float() * (r1 - r0 - n * step);
  }
  const tex = resampleRegion(map, { x0, y0, step, flip: rng.float() < 0.5 }, n, n);
  const gain = bright
    ? (c.median / map.median) * logUniform(rng, 1, 16)
    : (c.median / maskedMedian(tex, mask)) * logUniform(rng, 0.25, 4);
  for (let i = 0; i < tex.length; i++) tex[i] *= gain;

  // Motion.
  const speed = w * logUniform(rng, 0.003, 0.1);
  const dir = rng.float() < 0.6
    ? (rng.float() < 0.5 ? 0 : Math.PI) + (rng.float() - 0.5) * 0.9
    : 2 * Math.PI * rng.float();
  let vx = speed * Math.cos(dir), vy = speed * Math.sin(dir);
  let cx = w * (-0.05 + 1.1 * rng.float()), cy = h * (0.05 + 0.95 * rng.float());
  if (rng.float() < 0.33) {
    // At an edge, moving across it (in or out).
    const side = rng.int(4), off = (rng.float() - 0.5) * 2 * r;
    const across = Math.max(speed, 0.6 * r) * (rng.float() < 0.5 ? 1 : -1);
    if (side < 2) [cx, vx] = [side ? w + off : off, side ? -across : across];
    else [cy, vy] = [side === 3 ? h + off : off, side === 3 ? -across : across];
  }
  const accel = speed * 0.2;
  return {
    n,
    tex,
    mask,
    cx,
    cy,
    vx,
    vy,
    ax: accel * (2 * rng.float() - 1),
    ay: accel * (2 * rng.float() - 1),
    spin: ((2 * rng.float() - 1) * 8 * Math.PI) / 180,
    grow: 0.05 * (2 * rng.float() - 1),
    warp: rng.float() < 0.5 ? r * (0.01 + 0.04 * rng.float()) : 0,
    wave: (2 * Math.PI) / (r * (1 + 2 * rng.float())),
    phase: [2 * Math.PI * rng.float(), 2 * Math.PI * rng.float()],
    source: map.name,
    bright,
  };
}

/** A frame's camera: world = R(θ)·(canvas − centre) + centre + (dx, dy). */
export interface Pose {
  dx: number;
  dy: number;
  th: number;
}

/**
 * Composites object `o` at frame offset d (frame − reference) over `canvas` (w×h RGB,
 * pixel centres at +0.5), seen through `pose`.
 */
export function drawObject(
  canvas: Float32Array,
  w: number,
  h: number,
  o: MovingObject,
  d: number,
  pose: Pose,
): void {
  const cx = o.cx + o.vx * d + o.ax * d * d, cy = o.cy + o.vy * d + o.ay * d * d;
  const ang = -o.spin * d, inv = Math.exp(-o.grow * d);
  const ca = Math.cos(ang) * inv, sa = Math.sin(ang) * inv;
  const warp = o.warp * d, k = o.wave, [p1, p2] = o.phase, n = o.n, half = n / 2;
  const cc = Math.cos(pose.th), sc = Math.sin(pose.th), mx = w / 2, my = h / 2;
  // Bounding box on the canvas: the object's circle, mapped back through the camera.
  const reach = (half / inv) * 1.5 + Math.abs(warp) + 2;
  const bx = cc * (cx - mx - pose.dx) + sc * (cy - my - pose.dy) + mx;
  const by = -sc * (cx - mx - pose.dx) + cc * (cy - my - pose.dy) + my;
  const xa = Math.max(0, Math.floor(bx - reach)), xb = Math.min(w, Math.ceil(bx + reach));
  const ya = Math.max(0, Math.floor(by - reach)), yb = Math.min(h, Math.ceil(by + reach));
  const { mask, tex } = o;
  for (let y = ya; y < yb; y++) {
    const py = y + 0.5 - my;
    for (let x = xa; x < xb; x++) {
      const px = x + 0.5 - mx;
      const ux = cc * px - sc * py + mx + pose.dx - cx, uy = sc * px + cc * py + my + pose.dy - cy;
      let a = ca * ux - sa * uy, b = sa * ux + ca * uy;
      if (warp !== 0) {
        const a0 = a;
        a += warp * Math.sin(k * b + p1);
        b += warp * Math.sin(k * a0 + p2);
      }
      const fx = a + half - 0.5, fy = b + half - 0.5;
      if (fx < 0 || fy < 0 || fx >= n - 1 || fy >= n - 1) continue;
      const ix = fx | 0, iy = fy | 0, tx = fx - ix, ty = fy - iy;
      const q = iy * n + ix;
      const w00 = (1 - tx) * (1 - ty), w10 = tx * (1 - ty), w01 = (1 - tx) * ty, w11 = tx * ty;
      const alpha = w00 * mask[q] + w10 * mask[q + 1] + w01 * mask[q + n] + w11 * mask[q + n + 1];
      if (alpha <= 0) continue;
      const o3 = (y * w + x) * 3, t0 = 3 * q, t1 = t0 + 3, t2 = t0 + 3 * n, t3 = t2 + 3;
      for (let ch = 0; ch < 3; ch++) {
        const v = w00 * tex[t0 + ch] + w10 * tex[t1 + ch] + w01 * tex[t2 + ch] +
          w11 * tex[t3 + ch];
        canvas[o3 + ch] += alpha * (v - canvas[o3 + ch]);
      }
    }
  }
}
