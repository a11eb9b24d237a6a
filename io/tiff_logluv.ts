// SGI LogLuv TIFF (Greg Ward's log-encoded HDR; OpenCV's default for float RGB): SGILOG
// compression, a run-length code per byte plane of each row, of 32-bit LogLuv (15-bit log
// luminance, 8-bit u' and v') or 16-bit LogL codes. Decoded as libtiff's tif_luv.c decodes
// to float XYZ, then to linear sRGB with OpenCV's XYZ→RGB matrix in float32, the order
// OpenCV computes it, so values match OpenCV's imread.

import { ImageError } from "./image.ts";

export const LOGL = 32844, LOGLUV = 32845, SGILOG = 34676;

/**
 * One row at a time, each byte plane (most significant first) as runs (128+n: repeat the
 * next byte n−126 times) and literals (n: copy n bytes); returns each pixel's code as
 * big-endian bytes. Mirrors LogLuvDecode32/LogL16Decode.
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

/** Big-endian LogLuv32 (RGB out) or LogL16 (Y out) codes → float values per pixel. */
export function logLuvToRgb(codes: Uint8Array, n: number, luv: boolean): Float32Array {
  if (!luv) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = logL16toY((codes[2 * i] << 8) | codes[2 * i + 1]);
    return out;
  }
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const b = 4 * i;
    const l = logL16toY((codes[b] << 8) | codes[b + 1]);
    let x = 0, y = 0, z = 0;
    if (l > 0) {
      const u = (1 / UVSCALE) * (codes[b + 2] + 0.5), v = (1 / UVSCALE) * (codes[b + 3] + 0.5);
      const s = 1 / (6 * u - 16 * v + 12);
      const cx = 9 * u * s, cy = 4 * v * s;
      x = f((cx / cy) * l);
      y = f(l);
      z = f(((1 - cx - cy) / cy) * l);
    }
    for (let c = 0; c < 3; c++) {
      out[3 * i + c] = f(f(f(x * M[3 * c]) + f(y * M[3 * c + 1])) + f(z * M[3 * c + 2]));
    }
  }
  return out;
}
