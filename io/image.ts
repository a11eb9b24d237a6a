// Image: interleaved float32 pixels (row-major, channels last). LDR decoders scale codes to
// [0, 1] by the format's maximum code; HDR decoders give linear radiance. `bitDepth` says
// what the file held (8, 16, or 32 for floating point).

import { tensor } from "../ops/tensor.ts";
import { FileError } from "./files.ts";
import type { Tensor } from "../ops/tensor.ts";

/** A rectangle of pixel coordinates, both corners inclusive (OpenEXR's box2i). */
export interface Window {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

export interface Image {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
  bitDepth: number;
  /** OpenEXR: where the pixels lie (the data window) and the frame they belong to. */
  dataWindow?: Window;
  displayWindow?: Window;
}

export interface DecodeOptions {
  /** Largest image accepted, in pixels (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  /** OpenEXR multi-part files: the part to read, by name or index (default the first). */
  part?: string | number;
  /**
   * OpenEXR: return the display window, with the data window's pixels placed in it and zero
   * elsewhere (default: the data window alone).
   */
  displayWindow?: boolean;
}

/** A decoder's or loader's complaint about a file: "<file>: <problem>". */
export class ImageError extends FileError {
  constructor(file: string, problem: string) {
    super(file, problem);
    this.name = "ImageError";
  }
}

/**
 * Default pixel limit: above the largest camera sensors (200 MP phones, 16320×12240) and
 * below what a hostile header needs to exhaust memory (16384² RGBA floats are 4 GiB).
 */
export const DEFAULT_MAX_PIXELS = 200_000_000;

/** Refuses sizes that are not positive integers or pass the pixel limit. */
export function checkSize(file: string, width: number, height: number, o: DecodeOptions): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(file, `invalid image size ${width}x${height}`);
  }
  const limit = o.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > limit) {
    throw new ImageError(
      file,
      `image size ${width}x${height} exceeds the ${limit}-pixel limit (raise maxPixels to read it)`,
    );
  }
}

/**
 * Refuses a header whose claimed size the file cannot hold: `have` bytes of compressed data
 * when the format needs at least `need` for that many pixels. Runs before any allocation.
 */
export function checkHolds(
  file: string,
  width: number,
  height: number,
  need: number,
  have: number,
  what: string,
): void {
  if (need > have) {
    throw new ImageError(
      file,
      `header claims ${width}x${height} pixels, but ${have} bytes of ${what} cannot hold them ` +
        `(at least ${Math.ceil(need)} needed)`,
    );
  }
}

/** Channel c of pixel i (a grey image's one channel for all three). */
export const channelAt = (img: Image, i: number, c: number): number =>
  img.data[i * img.channels + Math.min(c, img.channels - 1)];

/** Throws, in one line, unless `frame` (named `what`) has `hdr`'s size; `step` names the caller. */
export function checkSameSize(step: string, hdr: Image, frame: Image, what: string): void {
  const { width: w, height: h } = hdr;
  if (frame.width !== w || frame.height !== h) {
    throw new Error(`${step}: the result is ${w}x${h}, ${what} ${frame.width}x${frame.height}`);
  }
}

export function newImage(width: number, height: number, channels: number, bitDepth: number): Image {
  const data = new Float32Array(width * height * channels);
  return { width, height, channels, bitDepth, data };
}

/** [1, C, H, W] tensor of the image's channels (planar). */
export function imageToTensor(img: Image, device?: string): Tensor {
  const { width: w, height: h, channels: c, data } = img;
  const planar = new Float32Array(c * w * h);
  for (let ch = 0; ch < c; ch++) {
    const o = ch * w * h;
    for (let i = 0; i < w * h; i++) planar[o + i] = data[i * c + ch];
  }
  return tensor(planar, [1, c, h, w], { device });
}

/** Image from a [1, C, H, W] (or [C, H, W]) tensor. */
export function tensorToImage(t: Tensor, bitDepth = 32): Image {
  const s = t.shape;
  if (!(s.length === 4 && s[0] === 1) && s.length !== 3) {
    throw new Error(`tensorToImage: expected [1, C, H, W], got [${s}]`);
  }
  const [c, h, w] = s.slice(-3);
  const planar = t.toArray();
  const img = newImage(w, h, c, bitDepth);
  for (let ch = 0; ch < c; ch++) {
    const o = ch * w * h;
    for (let i = 0; i < w * h; i++) img.data[i * c + ch] = planar[o + i];
  }
  return img;
}

/** The RGB channels (gray is repeated, alpha dropped). */
export function toRgb(img: Image): Image {
  if (img.channels === 3) return img;
  const out = newImage(img.width, img.height, 3, img.bitDepth);
  const c = img.channels, n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) out.data[3 * i + k] = img.data[i * c + (c >= 3 ? k : 0)];
  }
  return out;
}
