// A procedural radiance map, for brackets made without real maps (tests, demos): a sky with
// a sun of radiance ~8000, ground with a noise texture and shadows down to ~0.005, and
// buildings with lit windows: over 10^5 of dynamic range.

import type { Rng } from "../../ops/rng.ts";
import { newImage } from "../../io/image.ts";
import { type RadianceMap, toRadianceMap } from "./maps.ts";

/** Smooth value noise in [0, 1] with 4 octaves, from a per-scene hash. */
function noise(seed: number) {
  const hash = (x: number, y: number) => {
    let h = (Math.imul(x, 374761393) + Math.imul(y, 668265263) + Math.imul(seed, 1442695041)) | 0;
    h = Math.imul(h ^ (h >>> 13), 1274126177);
    return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
  };
  const smooth = (t: number) => t * t * (3 - 2 * t);
  const value = (x: number, y: number) => {
    const xi = Math.floor(x), yi = Math.floor(y), fx = smooth(x - xi), fy = smooth(y - yi);
    const a = hash(xi, yi), b = hash(xi + 1, yi), c = hash(xi, yi + 1), d = hash(xi + 1, yi + 1);
    return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy;
  };
  return (x: number, y: number) => {
    let s = 0, amp = 0.5, f = 1;
    for (let o = 0; o < 4; o++, amp /= 2, f *= 2) s += amp * value(x * f, y * f);
    return s / 0.9375;
  };
}

export function proceduralMap(w: number, h: number, rng: Rng): RadianceMap {
  const tex = noise(rng.next() | 0);
  const horizon = h * (0.45 + 0.15 * rng.float());
  const sun = {
    x: w * (0.15 + 0.7 * rng.float()),
    y: horizon * (0.2 + 0.5 * rng.float()),
    r: 0.03 * h,
  };
  const buildings = Array.from({ length: 2 + rng.int(3) }, () => {
    const bw = w * (0.08 + 0.15 * rng.float());
    const x0 = rng.float() * (w - bw);
    return {
      x0,
      x1: x0 + bw,
      top: horizon - h * (0.1 + 0.3 * rng.float()),
      shade: 0.04 + 0.2 * rng.float(),
    };
  });
  const shadows = Array.from({ length: 3 }, () => {
    const x0 = rng.float() * w, y0 = horizon + rng.float() * (h - horizon);
    return { x0, y0, x1: x0 + w * 0.3 * rng.float(), y1: y0 + h * 0.2 * rng.float() };
  });
  const ground = [0.45 + 0.2 * rng.float(), 0.38 + 0.15 * rng.float(), 0.25 + 0.1 * rng.float()];
  const img = newImage(w, h, 3, 32);
  const put = (p: number, r: number, g: number, b: number) => {
    img.data[p] = r;
    img.data[p + 1] = g;
    img.data[p + 2] = b;
  };
  for (let y = 0; y < h; y++) {
    pixel: for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      for (const b of buildings) {
        if (x >= b.x0 && x < b.x1 && y >= b.top && y < horizon) {
          const wx = ((x - b.x0) / (h * 0.03)) % 2, wy = ((y - b.top) / (h * 0.04)) % 2;
          const lit = tex(
            Math.floor((x - b.x0) / (h * 0.06)) * 3.1,
            Math.floor((y - b.top) / (h * 0.08)) * 1.7,
          ) > 0.55;
          if (wx > 0.6 && wx < 1.6 && wy > 0.5 && wy < 1.5 && lit) put(p, 60, 45, 20); // window
          else {
            const f = b.shade * (0.6 + 0.8 * tex(x * 0.05, y * 0.05));
            put(p, f, f, f * 1.1);
          }
          continue pixel;
        }
      }
      if (y < horizon) {
        const t = y / horizon, d = Math.hypot(x - sun.x, y - sun.y);
        const glow = 40 * Math.exp(-((d / (4 * sun.r)) ** 2));
        if (d < sun.r) put(p, 8000, 7600, 6800);
        else put(p, 0.25 + 0.9 * t + glow, 0.45 + 0.9 * t + glow * 0.9, 1 + 0.6 * t + glow * 0.8);
        continue;
      }
      const inShadow = shadows.some((s) => x >= s.x0 && x < s.x1 && y >= s.y0 && y < s.y1);
      const a = (0.3 + 0.7 * tex(x * 0.04, y * 0.08)) * (inShadow ? 0.01 : 1.2);
      put(p, ground[0] * a, ground[1] * a, ground[2] * a);
    }
  }
  return toRadianceMap("procedural", img, false);
}
