// SGI LogLuv TIFF (Greg Ward's log-encoded HDR; OpenCV's default for float RGB): SGILOG
// compression, a run-length code per byte plane of each row, of 32-bit LogLuv codes (15-bit
// log luminance and sign, 8-bit u' and v'). Decoded as libtiff's tif_luv.c decodes
// to float XYZ, then to linear sRGB with OpenCV's XYZ→RGB matrix in float32, summed in the
// order OpenCV sums, so values match OpenCV's imread to the bit.

import { type Image, ImageError } from "./image.ts";

export const LOGLUV = 32845, SGILOG = 34676;

/**
 * One row at a time, each byte plane (most significant first) as runs (128+n: repeat the
 * next byte n−126 times) and literals (n: copy n bytes); returns each pixel's code as
 * big-endian bytes. Mirrors LogLuvDecode32.
 */
export function sgiLogDecode(
  src: Uint8Array,
  expected: number,
  bps: number,
  width: number,
  file: string,
): Uint8Array {
  const out = new Uint8Array(expected);
  const rows = expected / (bps * width);
  let p = 0;
  for (let y = 0; y < rows; y++) {
    for (let k = 0; k < bps; k++) {
      const base = y * width * bps + k;
      let i = 0;
      while (i < width && p < src.length) {
        const c = src[p++];
        if (c >= 128) {
          if (p >= src.length) break;
          const v = src[p++];
          for (let n = c - 126; n > 0 && i < width; n--) out[base + bps * i++] = v;
        } else {
          for (let n = c; n > 0 && i < width && p < src.length; n--) {
            out[base + bps * i++] = src[p++];
          }
        }
      }
      if (i < width) throw new ImageError(file, `SGILOG data ends in row ${y}`);
    }
  }
  return out;
}

/** libtiff's LogL16toY: 15-bit log2 luminance in 1/256 steps, offset 64, sign bit. */
function logL16toY(p16: number): number {
  const le = p16 & 0x7fff;
  if (!le) return 0;
  const y = Math.exp((Math.LN2 / 256) * (le + 0.5) - Math.LN2 * 64);
  return p16 & 0x8000 ? -y : y;
}

const UVSCALE = 410;
const f = Math.fround;
// OpenCV's XYZ2sRGB_D65, as float32.
const M = [
  3.240479,
  -1.53715,
  -0.498535,
  -0.969256,
  1.875991,
  0.041556,
  0.055648,
  -0.204043,
  1.057311,
]
  .map(f);

/** Big-endian LogLuv32 codes → XYZ per pixel (libtiff's LogLuv32toXYZ). */
export function logLuvToXyz(codes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const b = 4 * i;
    const l = logL16toY((codes[b] << 8) | codes[b + 1]);
    if (!(l > 0)) continue;
    const u = (1 / UVSCALE) * (codes[b + 2] + 0.5), v = (1 / UVSCALE) * (codes[b + 3] + 0.5);
    const s = 1 / (6 * u - 16 * v + 12);
    const x = 9 * u * s, y = 4 * v * s;
    out[3 * i] = (x / y) * l;
    out[3 * i + 1] = l;
    out[3 * i + 2] = ((1 - x - y) / y) * l;
  }
  return out;
}

/**
 * XYZ → linear sRGB in place, as OpenCV's cvtColor(XYZ2BGR) rounds it: per row, 4-pixel
 * SIMD groups sum x·c0 + (y·c1 + z·c2), the scalar tail (x·c0 + y·c1) + z·c2.
 */
export function xyzToRgb(img: Image): void {
  const { width: w, height: h, data } = img;
  const simd = w - (w % 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 3 * (y * w + x), X = data[o], Y = data[o + 1], Z = data[o + 2];
      for (let c = 0; c < 3; c++) {
        const a = f(X * M[3 * c]), b = f(Y * M[3 * c + 1]), d = f(Z * M[3 * c + 2]);
        data[o + c] = x < simd ? f(a + f(b + d)) : f(f(a + b) + d);
      }
    }
  }
}
