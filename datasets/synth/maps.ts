// Radiance maps as material for synthetic brackets: backgrounds and the textures of moving
// objects. A map is linear RGB plus what the generator samples from it: its median
// luminance over the middle latitudes and the positions of its brightest pixels there (the
// sun, lamps, windows), from which bright moving objects are cut.
// Equirectangular panoramas (2:1) are stretched towards the poles, so views are taken from
// the rows between 20% and 80% of the height; other images (flat HDR photographs, and LDR
// photographs lifted to HDR by ./photos.ts) are used whole.

import { type DecodeOptions, readImage } from "../../io/codecs.ts";
import { type Image, ImageError, toRgb } from "../../io/image.ts";
import { liftPhoto } from "./photos.ts";

export interface RadianceMap {
  name: string;
  width: number;
  height: number;
  /** Interleaved linear RGB. */
  data: Float32Array;
  /** 2:1 equirectangular: wraps around horizontally, views come from the middle latitudes. */
  panorama: boolean;
  /** Median luminance of the usable rows. */
  median: number;
  /** Pixel indices of the brightest 0.2% of the usable rows. */
  bright: Int32Array;
}

export const luminance = (r: number, g: number, b: number) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

/** First and last usable row (exclusive end). */
export function usableRows(m: { height: number; panorama: boolean }): [number, number] {
  return m.panorama ? [Math.round(0.2 * m.height), Math.round(0.8 * m.height)] : [0, m.height];
}

/**
 * Wraps an RGB image as a map. Pixels far above the median whose channels are wildly
 * unbalanced (a sun stored as pure blue by a lossy EXR codec: [0, 0, 12000]) are pulled
 * towards white, since every camera clips such a source in all channels.
 */
export function toRadianceMap(name: string, img: Image, panorama?: boolean): RadianceMap {
  const rgb = toRgb(img);
  const { width, height } = rgb;
  const data = new Float32Array(rgb.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, rgb.data[i]) || 0; // no NaN
  const m = {
    width,
    height,
    panorama: panorama ?? Math.abs(width / height - 2) < 0.01,
  };
  const [r0, r1] = usableRows(m);
  const lum = new Float32Array((r1 - r0) * width);
  for (let i = 0; i < lum.length; i++) {
    const p = (r0 * width + i) * 3;
    lum[i] = luminance(data[p], data[p + 1], data[p + 2]);
  }
  const sorted = lum.slice().sort();
  const median = Math.max(sorted[sorted.length >> 1], 1e-6);
  for (let p = 0; p < data.length; p += 3) {
    const hi = Math.max(data[p], data[p + 1], data[p + 2]);
    if (hi > 64 * median && Math.min(data[p], data[p + 1], data[p + 2]) < hi / 16) {
      for (let c = 0; c < 3; c++) data[p + c] = Math.max(data[p + c], 0.7 * hi);
    }
  }
  const cut = sorted[Math.min(sorted.length - 1, Math.floor(0.998 * sorted.length))];
  const bright: number[] = [];
  for (let i = 0; i < lum.length; i++) if (lum[i] >= cut) bright.push(r0 * width + i);
  return { name, ...m, data, median, bright: Int32Array.from(bright) };
}

const MATERIAL = /\.(hdr|exr|jpe?g|png)$/i;

/**
 * Maps from files and folders (every .hdr/.exr, and photograph .jpg/.png, inside and in
 * folders below, by path), each read once; photographs are lifted to HDR (./photos.ts).
 */
export async function readMaps(
  paths: string[],
  decode: DecodeOptions = {},
): Promise<RadianceMap[]> {
  const files: string[] = [];
  for (const p of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(p);
    } catch {
      throw new ImageError(p, "no such file or folder");
    }
    if (!info.isDirectory) {
      files.push(p);
      continue;
    }
    const inside: string[] = [];
    const walk = async (dir: string, depth: number) => {
      for await (const e of Deno.readDir(dir)) {
        const path = `${dir}/${e.name}`;
        const kind = e.isSymlink ? await Deno.stat(path).catch(() => null) : e; // followed
        if (kind?.isFile && MATERIAL.test(e.name)) inside.push(path);
        else if (kind?.isDirectory && depth < 3) await walk(path, depth + 1);
      }
    };
    await walk(p.replace(/\/+$/, ""), 0);
    if (!inside.length) throw new ImageError(p, "holds no radiance map (.hdr/.exr) or photo");
    files.push(...inside.sort());
  }
  const maps: RadianceMap[] = [];
  for (const f of files) {
    const img = await readImage(f, decode), name = f.split("/").pop()!.replace(/\.[^.]+$/, "");
    if (/\.(hdr|exr)$/i.test(f)) maps.push(toRadianceMap(name, img));
    else maps.push(toRadianceMap(`photo_${name}`, liftPhoto(name, img), false));
  }
  return maps;
}
