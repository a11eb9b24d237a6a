// Tone mapping. μ-law is the field's compression for losses and PSNR-μ/SSIM-μ:
//   T(x) = log(1 + μx) / log(1 + μ), μ = 5000.
// The preview operator is for looking at HDR output: an exposure chosen from the image's
// log-average luminance (Reinhard's key 0.18, plus a user offset in stops), Reinhard's
// extended global curve with the 99.5th-percentile luminance as white, colours the display
// cannot show (a channel above 1) taken towards white at their own luminance and hue rather
// than clipped channel by channel (which turned an orange lamp's core yellow-green), then sRGB
// encoding.

import { type Image, newImage } from "../io/image.ts";

export const MU = 5000;

export function muLaw(x: number, mu = MU): number {
  return Math.log(1 + mu * x) / Math.log(1 + mu);
}

/** IEC 61966-2-1 encoding of a linear value in [0, 1]. */
export function srgbEncode(v: number): number {
  if (v <= 0) return 0;
  if (v >= 1) return 1;
  return v <= 0.0031308 ? 12.92 * v : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

/** IEC 61966-2-1 decoding: an sRGB code in [0, 1] to linear light. */
export function srgbDecode(v: number): number {
  if (v <= 0) return 0;
  if (v >= 1) return 1;
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
}

const luminance = (r: number, g: number, b: number) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

export interface PreviewOptions {
  /** Extra exposure in stops on top of the automatic one. */
  exposure?: number;
}

/** Display-ready RGB in [0, 1] (sRGB-encoded) from linear HDR RGB. */
export function previewImage(hdr: Image, o: PreviewOptions = {}): Image {
  const { width, height, channels, data } = hdr;
  const n = width * height;
  const lum = new Float32Array(n);
  let logSum = 0;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const l = channels >= 3 ? luminance(data[s], data[s + 1], data[s + 2]) : data[s];
    lum[i] = Math.max(l, 0);
    logSum += Math.log(1e-6 + lum[i]);
  }
  const logAvg = Math.exp(logSum / n);
  const scale = (0.18 / logAvg) * Math.pow(2, o.exposure ?? 0);
  const sorted = lum.slice().sort();
  const white = Math.max(sorted[Math.min(n - 1, Math.floor(0.995 * n))] * scale, 1e-6);
  const out = newImage(width, height, 3, 8), rgb = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const l = lum[i] * scale;
    const ld = (l * (1 + l / (white * white))) / (1 + l);
    const k = l > 0 ? ld / l : 0;
    for (let c = 0; c < 3; c++) rgb[c] = Math.max(data[s + (channels >= 3 ? c : 0)], 0) * scale * k;
    intoGamut(rgb);
    for (let c = 0; c < 3; c++) out.data[3 * i + c] = srgbEncode(rgb[c]);
  }
  return out;
}

/**
 * Display-linear RGB with a channel above 1 moved, in place, along the line to the grey of
 * its own luminance until that channel is 1: luminance and hue kept, saturation given up
 * (white from a luminance of 1 up).
 */
export function intoGamut(rgb: number[]): void {
  const m = Math.max(rgb[0], rgb[1], rgb[2]);
  if (m <= 1) return;
  const y = luminance(rgb[0], rgb[1], rgb[2]), t = y >= 1 ? 0 : (1 - y) / (m - y);
  for (let c = 0; c < 3; c++) rgb[c] = y >= 1 ? 1 : y + (rgb[c] - y) * t;
}
