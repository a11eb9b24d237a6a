// One synthetic handheld bracket with its ground truth.
// A view of a radiance map (a random crop: position, field of view, mirror; from the middle
// latitudes of a panorama) is the static scene. Moving objects textured from the other maps
// are composited over it, per frame at their own pose. Each frame sees the scene through its
// own camera pose (sub-pixel translation and a small rotation; the middle frame, the
// reference, has none), 2×2 supersampled. The scene is scaled so the reference frame's
// median sits at a random level (the photographer's exposure choice), then the camera
// (./camera.ts) makes the LDR frames.
// Units and EVs follow imaging/exposure.ts: EVs relative to the shortest frame, radiance in
// shortest-exposure units. The ground truth is Kalantari's: the reference frame's noise-
// free radiance, clipped at 1 where the shortest exposure clips.

import { Rng } from "../../ops/rng.ts";
import { normaliseEvs } from "../../imaging/exposure.ts";
import { type Image, newImage } from "../../io/image.ts";
import { expose, sampleSensor, type Sensor } from "./camera.ts";
import { luminance, type RadianceMap, usableRows } from "./maps.ts";
import { drawObject, type MovingObject, type Pose, sampleObject } from "./objects.ts";
import { proceduralMap } from "./procedural.ts";
import { type Region, resampleRegion } from "./resample.ts";

/** The EV sets brackets are shot with: ±1, ±2 and ±3 stops around the reference. */
export const EV_SETS = [[-1, 0, 1], [-2, 0, 2], [-3, 0, 3]];

export interface SynthOptions {
  width: number;
  height: number;
  seed: number;
  /** Exposures in stops, any origin (−2,0,2 and 0,2,4 are the same), or "mixed": one of EV_SETS per scene (default −2,0,2). */
  evs?: number[] | "mixed";
  bits?: 8 | 16 | "mixed";
  /** Largest camera translation in pixels between frames (default 0.8% of the width); the rotation (0.3° by default) scales with it. */
  shake?: number;
  /** Number of moving objects (default 2–6 at random). */
  objects?: number;
  /** Radiance maps for the background and the objects' textures (default: procedural). */
  maps?: RadianceMap[];
  /** Index in `maps` of the background (default: at random); textures come from the others. */
  background?: number;
  /** Fixes parts of the camera (e.g. another output curve, for tests of its recovery). */
  camera?: Partial<Sensor>;
  /** The reference frame's median linear value (default: 0.04–0.3 at random, 0.01–0.06 on dark maps). */
  key?: number;
}

/** What a scene was made of, written beside it. */
export interface SynthMeta {
  seed: number;
  background: string;
  view: Region & { degrees?: number };
  objects: { source: string; bright: boolean }[];
  key: number;
  sensor: Sensor;
  /** Each frame's actual exposure in stops (the EVs written are the nominal ones). */
  exposures: number[];
  shake: Pose[];
}

export interface SynthScene {
  ldrs: Image[];
  /** Relative to the shortest frame: 0,2,4 or 0,3,6. */
  evs: number[];
  /** Shortest-exposure units, in [0, 1]. */
  gt: Image;
  /** The reference frame's radiance before clipping (the scene's full range). */
  radiance: Image;
  meta: SynthMeta;
}

const SS = 2;
const logUniform = (rng: Rng, lo: number, hi: number) => lo * Math.pow(hi / lo, rng.float());

/**
 * Where on the map the background comes from, for a w×h canvas (map pixels per canvas pixel
 * `step`). Panoramas: 65–145° wide, enlarged at most 1.8× where the map allows, centred
 * near the horizon; other images: 60–100% of their width.
 */
function chooseView(map: RadianceMap, w: number, h: number, out: number, rng: Rng): Region {
  const [r0, r1] = usableRows(map);
  let span: number; // map pixels across the output width
  if (map.panorama) {
    span = map.width * logUniform(rng, 65 / 360, 145 / 360);
    span = Math.min(Math.max(span, 0.55 * out), 0.4 * map.width);
  } else span = map.width * (0.6 + 0.4 * rng.float());
  span = Math.min(span, ((r1 - r0) * w) / h); // the view's height fits
  const step = span / out / SS;
  const tall = h * step;
  const centre = map.panorama ? map.height * (0.42 + 0.16 * rng.float()) : (r0 + r1) / 2;
  const y0 = Math.min(Math.max(centre - tall / 2, r0), r1 - tall);
  const x0 = map.panorama ? rng.float() * map.width : rng.float() * (map.width - w * step);
  return { x0, y0, step, flip: rng.float() < 0.5 };
}

function medianLuminance(rgb: Float32Array): number {
  const n = Math.ceil(rgb.length / 3 / 5), lum = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = 15 * i;
    lum[i] = luminance(rgb[p], rgb[p + 1], rgb[p + 2]);
  }
  return Math.max(lum.sort()[n >> 1], 1e-9);
}

/** 2×2 box average of a (2w)×(2h) canvas. */
function downsample(canvas: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h * 3), cw = w * SS;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = ((2 * y) * cw + 2 * x) * 3, b = a + cw * 3, o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = 0.25 * (canvas[a + c] + canvas[a + 3 + c] + canvas[b + c] + canvas[b + 3 + c]);
      }
    }
  }
  return out;
}

/** The background seen through a camera pose: bilinear from a raster with a margin of m. */
function shakeView(bg: Float32Array, bw: number, m: number, w: number, h: number, p: Pose) {
  const out = new Float32Array(w * h * 3);
  const cc = Math.cos(p.th), sc = Math.sin(p.th), mx = w / 2, my = h / 2;
  for (let y = 0; y < h; y++) {
    const py = y + 0.5 - my;
    for (let x = 0; x < w; x++) {
      const px = x + 0.5 - mx;
      const fx = cc * px - sc * py + mx + p.dx + m - 0.5,
        fy = sc * px + cc * py + my + p.dy + m - 0.5;
      const ix = Math.floor(fx), iy = Math.floor(fy), tx = fx - ix, ty = fy - iy;
      const q = (iy * bw + ix) * 3, r = q + bw * 3, o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = (1 - ty) * ((1 - tx) * bg[q + c] + tx * bg[q + 3 + c]) +
          ty * ((1 - tx) * bg[r + c] + tx * bg[r + 3 + c]);
      }
    }
  }
  return out;
}

export function synthesizeScene(o: SynthOptions): SynthScene {
  const { width: w, height: h } = o;
  const rng = new Rng(o.seed);
  const given = o.evs === "mixed" ? EV_SETS[rng.int(EV_SETS.length)] : o.evs ?? [-2, 0, 2];
  if (given.length !== 3) throw new Error(`synth: needs 3 exposures, got ${given.length}`);
  const evs = normaliseEvs(given);
  const bits = o.bits === "mixed" ? (rng.float() < 0.5 ? 8 : 16) : o.bits ?? 16;
  const sensor: Sensor = { ...sampleSensor(rng, { bits }), ...o.camera };
  const cw = w * SS, ch = h * SS;

  // Camera poses (canvas pixels), and the margin the background needs for them.
  // Translation up to `shake`, rotation up to 0.3° at the default shake (in proportion).
  const shake = SS * (o.shake ?? 0.008 * w),
    tilt = ((0.3 * Math.PI) / 180) * (shake / (SS * 0.008 * w));
  const poses: Pose[] = evs.map((_, f) =>
    f === 1 ? { dx: 0, dy: 0, th: 0 } : {
      dx: (2 * rng.float() - 1) * shake,
      dy: (2 * rng.float() - 1) * shake,
      th: (2 * rng.float() - 1) * tilt,
    }
  );
  const m = Math.ceil(shake + tilt * Math.hypot(cw, ch) / 2) + 2;

  // Materials: the background map and the maps the objects' textures come from.
  const maps = o.maps?.length ? o.maps : [proceduralMap(cw + 2 * m, ch + 2 * m, rng)];
  const bgIndex = o.background ?? rng.int(maps.length);
  const bgMap = maps[bgIndex];
  const others = maps.length > 1
    ? maps.filter((_, i) => i !== bgIndex)
    : o.maps?.length
    ? maps
    : [proceduralMap(cw, ch, rng)];
  const view = chooseView(bgMap, cw, ch, w, rng);
  const bw = cw + 2 * m, bh = ch + 2 * m;
  const bg = resampleRegion(
    bgMap,
    { ...view, x0: view.x0 - m * view.step, y0: view.y0 - m * view.step },
    bw,
    bh,
  );

  // Exposure: the reference frame's median linear value is `key`; dark maps (night, a black
  // studio: median under 0.02 as captured) are shot darker, as handheld night brackets are.
  const key = o.key ??
    (bgMap.median < 0.02 ? logUniform(rng, 0.01, 0.06) : logUniform(rng, 0.04, 0.3));
  const scale = key / (Math.pow(2, evs[1]) * medianLuminance(bg));
  for (let i = 0; i < bg.length; i++) bg[i] *= scale;
  const median = key / Math.pow(2, evs[1]);

  const count = o.objects ?? 2 + rng.int(5);
  const objects: MovingObject[] = Array.from({ length: count }, () => {
    const src = others[rng.int(others.length)];
    const ctx = { width: cw, height: ch, ss: SS, step: view.step, median };
    return sampleObject(rng, src, ctx, rng.float() < 0.3);
  });

  const radiance = poses.map((pose, f) => {
    const canvas = shakeView(bg, bw, m, cw, ch, pose);
    for (const ob of objects) drawObject(canvas, cw, ch, ob, f - 1, pose);
    return downsample(canvas, w, h);
  });
  // Each frame's actual exposure is off its nominal EV by up to ±jitter stops (the
  // reference's defines the ground truth's units, so it is exact).
  const exposures = evs.map((ev, f) => f === 1 ? ev : ev + (2 * rng.float() - 1) * sensor.jitter);
  const ldrs = exposures.map((ev, f) => expose(radiance[f], w, h, ev, sensor, rng));
  const ref: Image = { ...newImage(w, h, 3, 32), data: radiance[1] };
  const gt: Image = { ...ref, data: radiance[1].map((v) => Math.min(v, 1)) };
  return {
    ldrs,
    evs,
    gt,
    radiance: ref,
    meta: {
      seed: o.seed,
      background: bgMap.name,
      view: {
        ...view,
        ...(bgMap.panorama ? { degrees: (360 * view.step * cw) / bgMap.width } : {}),
      },
      objects: objects.map((ob) => ({ source: ob.source, bright: ob.bright })),
      key,
      sensor,
      exposures,
      shake: poses.map((p) => ({ dx: p.dx / SS, dy: p.dy / SS, th: p.th })),
    },
  };
}
