// Synthetic handheld brackets with ground truth, for tests, demos and training on scenes
// you make yourself.
// The radiance map is either procedural (sky with a sun of radiance ~8000, ground with a
// noise texture and shadows down to ~0.005, buildings with lit windows: over 10^5 of
// dynamic range) or a user's .hdr/.exr, scaled so its median luminance sits at 0.18.
// Each frame sees the map through its own camera pose (translation up to `shake` pixels
// and a rotation up to 0.5°; the reference, middle frame has none) with textured objects
// that move between frames, occluding and revealing the background. The camera then
// applies 2^EV, Poisson–Gaussian noise, clipping, a γ 2.2 response and 8- or 16-bit
// quantisation, so H = L^2.2 / 2^EV inverts it up to noise and clipping. The ground truth
// is the reference frame's noise-free radiance clipped at 2^(−min EV), the most the
// shortest exposure records, as a ground truth merged from a real bracket would be.
// Pixels are 2×2 supersampled.

import { Rng } from "../ops/rng.ts";
import { type Image, newImage } from "./image.ts";
import { writeImage } from "./codecs.ts";
import { writeFileAtomic } from "./files.ts";
import { GAMMA, ldrToLinear } from "./dataset.ts";
import { encodeRadiance } from "./radiance.ts";
import { encodeTiff } from "./tiff.ts";
import { previewImage } from "./tonemap.ts";

export interface SynthOptions {
  width: number;
  height: number;
  seed: number;
  /** Exposures in stops, reference in the middle (default -2, 0, 2). */
  evs?: number[];
  bits?: 8 | 16;
  /** Largest camera translation in pixels between frames (default 1% of the width). */
  shake?: number;
  /** Number of moving objects (default 3). */
  objects?: number;
  /** A user radiance map instead of the procedural scene. */
  radiance?: Image;
}

export interface SynthScene {
  ldrs: Image[];
  evs: number[];
  gt: Image;
  /** The reference frame's radiance before clipping (the scene's full range). */
  radiance: Image;
}

type Rgb = [number, number, number];

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

interface Mover {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  vx: number;
  vy: number;
  color: Rgb;
  checker: number;
}

/** Radiance of the static scene at world position (x, y). */
function proceduralScene(w: number, h: number, rng: Rng): (x: number, y: number) => Rgb {
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
  const ground: Rgb = [
    0.45 + 0.2 * rng.float(),
    0.38 + 0.15 * rng.float(),
    0.25 + 0.1 * rng.float(),
  ];
  return (x, y) => {
    for (const b of buildings) {
      if (x >= b.x0 && x < b.x1 && y >= b.top && y < horizon) {
        const wx = ((x - b.x0) / (h * 0.03)) % 2, wy = ((y - b.top) / (h * 0.04)) % 2;
        const lit = tex(
          Math.floor((x - b.x0) / (h * 0.06)) * 3.1,
          Math.floor((y - b.top) / (h * 0.08)) * 1.7,
        ) > 0.55;
        if (wx > 0.6 && wx < 1.6 && wy > 0.5 && wy < 1.5 && lit) return [60, 45, 20]; // lit window
        const f = b.shade * (0.6 + 0.8 * tex(x * 0.05, y * 0.05));
        return [f, f, f * 1.1];
      }
    }
    if (y < horizon) {
      const t = y / horizon, d = Math.hypot(x - sun.x, y - sun.y);
      if (d < sun.r) return [8000, 7600, 6800];
      const glow = 40 * Math.exp(-((d / (4 * sun.r)) ** 2));
      return [0.25 + 0.9 * t + glow, 0.45 + 0.9 * t + glow * 0.9, 1.0 + 0.6 * t + glow * 0.8];
    }
    const inShadow = shadows.some((s) => x >= s.x0 && x < s.x1 && y >= s.y0 && y < s.y1);
    const a = 0.3 + 0.7 * tex(x * 0.04, y * 0.08);
    const light = inShadow ? 0.01 : 1.2;
    return [ground[0] * a * light, ground[1] * a * light, ground[2] * a * light];
  };
}

/** Bilinear lookup into a user radiance map scaled to w×h, median luminance → 0.18. */
function mapScene(map: Image, w: number, h: number): (x: number, y: number) => Rgb {
  const lum: number[] = [];
  const c = map.channels;
  for (let i = 0; i < map.width * map.height; i += 7) {
    const p = i * c;
    lum.push(
      c >= 3
        ? 0.2126 * map.data[p] + 0.7152 * map.data[p + 1] + 0.0722 * map.data[p + 2]
        : map.data[p],
    );
  }
  lum.sort((a, b) => a - b);
  const k = 0.18 / Math.max(lum[lum.length >> 1], 1e-6);
  const sx = map.width / w, sy = map.height / h;
  return (x, y) => {
    const u = Math.min(Math.max(x * sx - 0.5, 0), map.width - 1),
      v = Math.min(Math.max(y * sy - 0.5, 0), map.height - 1);
    const x0 = Math.floor(u),
      y0 = Math.floor(v),
      x1 = Math.min(x0 + 1, map.width - 1),
      y1 = Math.min(y0 + 1, map.height - 1);
    const fx = u - x0, fy = v - y0;
    const out: Rgb = [0, 0, 0];
    for (let ch = 0; ch < 3; ch++) {
      const q = (yy: number, xx: number) => map.data[(yy * map.width + xx) * c + (c >= 3 ? ch : 0)];
      out[ch] = k *
        ((q(y0, x0) * (1 - fx) + q(y0, x1) * fx) * (1 - fy) +
          (q(y1, x0) * (1 - fx) + q(y1, x1) * fx) * fy);
    }
    return out;
  };
}

export function synthesizeScene(o: SynthOptions): SynthScene {
  const { width: w, height: h } = o;
  const evs = o.evs ?? [-2, 0, 2];
  if (evs.length !== 3) throw new Error(`synth: needs 3 exposures, got ${evs.length}`);
  const bits = o.bits ?? 16;
  const rng = new Rng(o.seed);
  const background = o.radiance ? mapScene(o.radiance, w, h) : proceduralScene(w, h, rng);
  const shake = o.shake ?? 0.01 * w;
  const poses = evs.map((_, f) =>
    f === 1 ? { dx: 0, dy: 0, th: 0 } : {
      dx: (2 * rng.float() - 1) * shake,
      dy: (2 * rng.float() - 1) * shake,
      th: ((2 * rng.float() - 1) * 0.5 * Math.PI) / 180,
    }
  );
  const movers: Mover[] = Array.from({ length: o.objects ?? 3 }, () => ({
    cx: w * (0.2 + 0.6 * rng.float()),
    cy: h * (0.35 + 0.5 * rng.float()),
    rx: h * (0.06 + 0.08 * rng.float()),
    ry: h * (0.06 + 0.08 * rng.float()),
    vx: w * (0.04 + 0.08 * rng.float()) * (rng.float() < 0.5 ? -1 : 1),
    vy: h * 0.03 * (2 * rng.float() - 1),
    color: [0.1 + 0.9 * rng.float(), 0.1 + 0.9 * rng.float(), 0.1 + 0.9 * rng.float()],
    checker: h * (0.015 + 0.02 * rng.float()),
  }));
  const radianceAt = (f: number, x: number, y: number): Rgb => {
    for (const m of movers) {
      const mx = m.cx + m.vx * (f - 1), my = m.cy + m.vy * (f - 1);
      const dx = (x - mx) / m.rx, dy = (y - my) / m.ry;
      if (dx * dx + dy * dy <= 1) {
        const on = (Math.floor((x - mx) / m.checker) + Math.floor((y - my) / m.checker)) & 1;
        const s = on ? 1.6 : 0.25;
        return [m.color[0] * s, m.color[1] * s, m.color[2] * s];
      }
    }
    return background(x, y);
  };
  /** Frame f's radiance, 2×2 supersampled through its camera pose. */
  const render = (f: number): Image => {
    const img = newImage(w, h, 3, 32);
    const { dx, dy, th } = poses[f], cos = Math.cos(th), sin = Math.sin(th);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const acc: Rgb = [0, 0, 0];
        for (const [ox, oy] of [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]) {
          const px = x + ox - w / 2, py = y + oy - h / 2;
          const r = radianceAt(
            f,
            cos * px - sin * py + w / 2 + dx,
            sin * px + cos * py + h / 2 + dy,
          );
          for (let c = 0; c < 3; c++) acc[c] += r[c] / 4;
        }
        img.data.set(acc, (y * w + x) * 3);
      }
    }
    return img;
  };
  const levels = (1 << bits) - 1;
  const radiance = evs.map((_, f) => render(f));
  const ldrs = evs.map((ev, f) => {
    const rad = radiance[f];
    const img = newImage(w, h, 3, bits);
    const k = Math.pow(2, ev);
    const z = rng.normal(rad.data.length);
    for (let i = 0; i < rad.data.length; i++) {
      const s = rad.data[i] * k;
      const noisy = s + z[i] * Math.sqrt(4e-4 * Math.max(s, 0) + 4e-6); // shot + read noise
      const clipped = Math.min(Math.max(noisy, 0), 1);
      img.data[i] = Math.round(Math.pow(clipped, 1 / GAMMA) * levels) / levels;
    }
    return img;
  });
  const ceiling = Math.pow(2, -Math.min(...evs));
  const gt = { ...radiance[1], data: radiance[1].data.map((v) => Math.min(v, ceiling)) };
  return { ldrs, evs, gt, radiance: radiance[1] };
}

/**
 * Writes a scene in the Kalantari layout (frame1–3.tif, exposure.txt, HDRImg.hdr) plus
 * preview.png: the three frames and their naive, unaligned merge side by side, where
 * moving objects show as ghosts. Every file is written atomically.
 */
export async function writeScene(dir: string, scene: SynthScene): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const bits = scene.ldrs[0].bitDepth === 8 ? 8 : 16;
  for (const [i, ldr] of scene.ldrs.entries()) {
    await writeFileAtomic(`${dir}/frame${i + 1}.tif`, encodeTiff(ldr, bits));
  }
  await writeFileAtomic(
    `${dir}/exposure.txt`,
    new TextEncoder().encode(scene.evs.join("\n") + "\n"),
  );
  await writeFileAtomic(`${dir}/HDRImg.hdr`, encodeRadiance(scene.gt));
  await writeImage(`${dir}/preview.png`, previewStrip(scene));
}

function previewStrip(scene: SynthScene): Image {
  const { width: w, height: h } = scene.gt;
  const merged = newImage(w, h, 3, 32);
  scene.ldrs.forEach((ldr, f) => {
    const lin = ldrToLinear(ldr, scene.evs[f]);
    for (let i = 0; i < merged.data.length; i++) merged.data[i] += lin.data[i] / 3;
  });
  const panels = [...scene.ldrs, previewImage(merged)];
  const out = newImage(w * panels.length, h, 3, 8);
  panels.forEach((p, k) => {
    for (let y = 0; y < h; y++) {
      out.data.set(
        p.data.subarray(y * w * 3, (y + 1) * w * 3),
        (y * w * panels.length + k * w) * 3,
      );
    }
  });
  return out;
}
