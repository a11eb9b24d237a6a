// Photographs as radiance material: a JPEG or PNG lifted to HDR. Its sRGB codes are decoded
// to linear light, and where the photo clipped (a sky, a lamp, the sun: codes near 1), the
// radiance the camera lost is put back as a synthetic highlight: a soft boost of 4–32× (per
// photo, from its name) rising over the last 12% of the code range, so light sources and
// bright skies clip real brackets' frames as they would in the scene. Photos are shrunk to
// at most MAX_SIDE pixels (views of 384×256 need no more, and 88 photos stay in memory).

import type { Image } from "../../io/image.ts";
import { srgbDecode } from "../../imaging/tonemap.ts";
import { Rng } from "../../ops/rng.ts";
import { type Region, resampleRegion } from "./resample.ts";

export const MAX_SIDE = 768;

/** A stable seed from a name (FNV-1a). */
function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The highlight boost of a code's brightest channel m: 1 below 0.88, up to `gain` at 1. */
function boost(m: number, gain: number): number {
  const t = Math.min(Math.max((m - 0.88) / 0.12, 0), 1);
  return 1 + (gain - 1) * t * t * (3 - 2 * t);
}

/** The photo's linear radiance (its name seeds the highlight gain). */
export function liftPhoto(name: string, photo: Image): Image {
  const gain = 4 * Math.pow(8, new Rng(seedOf(name)).float());
  const { width, height, channels: c } = photo;
  const lin: Image = {
    ...photo,
    channels: 3,
    bitDepth: 32,
    data: new Float32Array(width * height * 3),
  };
  for (let i = 0; i < width * height; i++) {
    let m = 0;
    for (let k = 0; k < 3; k++) m = Math.max(m, photo.data[i * c + Math.min(k, c - 1)]);
    const b = boost(m, gain);
    for (let k = 0; k < 3; k++) {
      lin.data[i * 3 + k] = srgbDecode(photo.data[i * c + Math.min(k, c - 1)]) * b;
    }
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  if (scale === 1) return lin;
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const region: Region = { x0: 0, y0: 0, step: width / w, flip: false };
  const small = resampleRegion({ ...lin, panorama: false }, region, w, h);
  return { ...lin, width: w, height: h, data: small };
}
