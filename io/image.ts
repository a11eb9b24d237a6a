// Image: interleaved float32 pixels (row-major, channels last). LDR decoders scale codes to
// [0, 1] by the format's maximum code; HDR decoders give linear radiance. `bitDepth` says
// what the file held (8, 16, or 32 for floating point).

import { tensor } from "../ops/tensor.ts";
import { FileError } from "./files.ts";
import type { Tensor } from "../ops/tensor.ts";

export interface Image {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
  bitDepth: number;
}

/** A decoder's or loader's complaint about a file: "<file>: <problem>". */
export class ImageError extends FileError {
  constructor(file: string, problem: string) {
    super(file, problem);
    this.name = "ImageError";
  }
}

/** Largest image any decoder will allocate (pixels), against hostile headers. */
export const MAX_PIXELS = 1 << 28;
/**
 * No codec here packs more pixels into a byte of file than this (deflate's ~1032:1 on
 * 1-bit data), so a header claiming more than `bytes × 8192` pixels is corrupt, and
 * rejecting it keeps a flipped width from allocating gigabytes.
 */
const MAX_PIXELS_PER_BYTE = 8192;

export function checkSize(file: string, width: number, height: number, fileBytes: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(file, `invalid image size ${width}x${height}`);
  }
  if (width * height > MAX_PIXELS) {
    throw new ImageError(
      file,
      `image size ${width}x${height} exceeds the ${MAX_PIXELS}-pixel limit`,
    );
  }
  if (width * height > fileBytes * MAX_PIXELS_PER_BYTE) {
    throw new ImageError(
      file,
      `header claims ${width}x${height} pixels, more than ${fileBytes} bytes can hold`,
    );
  }
}

export function newImage(width: number, height: number, channels: number, bitDepth: number): Image {
  return { width, height, channels, bitDepth, data: new Float32Array(width * height * channels) };
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
