// Luminance/chroma OpenEXR (Y full size; RY = (R−Y)/Y and BY = (B−Y)/Y at half size in x and
// y; what cameras and RgbaOutputFile's WRITE_YC write) back to RGB exactly as OpenEXR's
// RgbaInputFile does (ImfRgbaFile.cpp FromYca, ImfRgbaYca.cpp): chroma filled in along
// lines, then across them, with the same 27-tap filter, lines clamped at the edges as it
// clamps them; YCA→RGB with the header's luminance weights; then over-saturated pixels
// desaturated against their neighbours. Every intermediate is rounded to half and float32
// where the library's are, so the result is the library's to the bit.

import { floatToHalf, halfToFloat } from "./half.ts";
import type { Image } from "./image.ts";

const f = Math.fround;
const h = (x: number) => halfToFloat(floatToHalf(x));
/** Interpolation taps at odd offsets −13…−1, +1…+13. */
const TAPS = [
  0.002128,
  -0.00754,
  0.019597,
  -0.043159,
  0.087929,
  -0.186077,
  0.627123,
  0.627123,
  -0.186077,
  0.087929,
  -0.043159,
  0.019597,
  -0.00754,
  0.002128,
].map(f);
const REC709 = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329];

/** OpenEXR's computeYw: the Y row of RGBtoXYZ(chromaticities), normalised, in float32. */
export function lumaWeights(chroma: number[] = REC709): [number, number, number] {
  const [rx, ry, gx, gy, bx, by, wx, wy] = chroma.map(f);
  const X = f(f(wx * 1) / wy), Z = f(f(f(f(1 - wx) - wy) * 1) / wy);
  const XZ = f(X + Z);
  const d = f(f(f(rx * f(by - gy)) + f(bx * f(gy - ry))) + f(gx * f(ry - by)));
  const term = (yy: number) => f(f(1 * f(yy - 1)) + f(yy * XZ));
  const sr = f(f(f(f(X * f(by - gy)) - f(gx * term(by))) + f(bx * term(gy))) / d);
  const sg = f(f(f(f(X * f(ry - by)) + f(rx * term(by))) - f(bx * term(ry))) / d);
  const sb = f(f(f(f(X * f(gy - ry)) - f(rx * term(gy))) + f(gx * term(ry))) / d);
  const m = [f(sr * ry), f(sg * gy), f(sb * by)];
  const sum = f(f(m[0] + m[1]) + m[2]);
  return [f(m[0] / sum), f(m[1] / sum), f(m[2] / sum)];
}

/**
 * planes: Y (w×h), RY and BY ((w/2)×(h/2)), and A when present, as decoded; writes RGB(A)
 * into img. Width and height are even and the data window starts on even coordinates (the
 * format requires both for 2×2 chroma).
 */
export function ycaToRgb(planes: Float32Array[], img: Image, yw: [number, number, number]): void {
  const { width: w, height: hgt } = img;
  const [Y, RY, BY, A] = planes.map((p) => p.map(h));
  const cw = w / 2;
  // Chroma of each even line, filled in along the line (reconstructChromaHoriz): edges
  // repeat the first sample and the last even one, as padTmpBuf does.
  const lineChroma = (src: Float32Array, row: number): Float32Array => {
    const out = new Float32Array(w);
    const at = (j: number) => src[row * cw + (j < 0 ? 0 : j >= w ? w - 2 : j) / 2];
    for (let j = 0; j < w; j++) {
      if (!(j & 1)) out[j] = at(j);
      else {
        let s = 0;
        for (let k = 0; k < 14; k++) s = f(s + f(at(j - 13 + 2 * k) * TAPS[k]));
        out[j] = h(s);
      }
    }
    return out;
  };
  const rows = hgt / 2;
  const cr = Array.from({ length: rows }, (_, i) => lineChroma(RY, i));
  const cb = Array.from({ length: rows }, (_, i) => lineChroma(BY, i));
  // readYCAScanLine's clamp: above the window reads the first line, below it the last even one.
  const clamp = (v: number) => (v < 0 ? 0 : v >= hgt ? hgt - 2 : v);

  /** RGB of line v (relative, −1 … h), before the saturation fix. */
  const rgbLine = (v: number): Float32Array[] => {
    const yl = clamp(v);
    const r = new Float32Array(w), b = new Float32Array(w);
    if (!(v & 1)) { // even lines carry chroma
      r.set(cr[yl / 2]);
      b.set(cb[yl / 2]);
    } else { // odd: reconstructChromaVert over lines v−13 … v+13 (even ones)
      for (let x = 0; x < w; x++) {
        let sr = 0, sb = 0;
        for (let k = 0; k < 14; k++) {
          const row = clamp(v - 13 + 2 * k) / 2;
          sr = f(sr + f(cr[row][x] * TAPS[k]));
          sb = f(sb + f(cb[row][x] * TAPS[k]));
        }
        r[x] = h(sr);
        b[x] = h(sb);
      }
    }
    const g = new Float32Array(w);
    for (let x = 0; x < w; x++) { // YCAtoRGBA
      const lum = Y[yl * w + x];
      if (r[x] === 0 && b[x] === 0) {
        r[x] = g[x] = b[x] = lum;
        continue;
      }
      const rr = f(f(r[x] + 1) * lum), bb = f(f(b[x] + 1) * lum);
      g[x] = h(f(f(f(lum - f(rr * yw[0])) - f(bb * yw[2])) / yw[1]));
      r[x] = h(rr);
      b[x] = h(bb);
    }
    return [r, g, b];
  };

  const nc = img.channels;
  let above = rgbLine(-1), cur = rgbLine(0);
  for (let y = 0; y < hgt; y++) {
    const below = rgbLine(y + 1);
    const out = fixSaturation(yw, w, above, cur, below);
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * nc;
      for (let c = 0; c < 3; c++) img.data[o + c] = out[c][x];
      if (A) img.data[o + 3] = A[y * w + x];
    }
    above = cur;
    cur = below;
  }
}

function saturation(r: number, g: number, b: number): number {
  const mx = Math.max(r, g, b), mn = Math.min(r, g, b);
  return mx > 0 ? f(1 - f(mn / mx)) : 0;
}

/** RgbaYca::fixSaturation: pulls a pixel far more saturated than its neighbours back. */
function fixSaturation(
  yw: number[],
  n: number,
  a: Float32Array[],
  c: Float32Array[],
  b: Float32Array[],
): Float32Array[] {
  const out = c.map((p) => p.slice());
  const sat = (p: Float32Array[], i: number) => saturation(p[0][i], p[1][i], p[2][i]);
  let a2 = sat(a, 0), a1 = a2, b2 = sat(b, 0), b1 = b2;
  for (let i = 0; i < n; i++) {
    const a0 = a1, b0 = b1;
    a1 = a2;
    b1 = b2;
    if (i < n - 1) {
      a2 = sat(a, i + 1);
      b2 = sat(b, i + 1);
    }
    const sMean = Math.min(1, f(0.25 * f(f(f(a0 + a2) + b0) + b2)));
    const s = sat(c, i);
    if (!(s > sMean)) continue;
    const sMax = Math.min(1, f(1 - f(f(1 - sMean) * 0.25)));
    if (!(s > sMax)) continue;
    // desaturate(in, sMax / s)
    const k = f(sMax / s);
    const rgb = [c[0][i], c[1][i], c[2][i]];
    const mx = Math.max(rgb[0], rgb[1], rgb[2]);
    const o = rgb.map((v) => h(Math.max(f(mx - f(f(mx - v) * k)), 0)));
    const yIn = f(f(f(rgb[0] * yw[0]) + f(rgb[1] * yw[1])) + f(rgb[2] * yw[2]));
    const yOut = f(f(f(o[0] * yw[0]) + f(o[1] * yw[1])) + f(o[2] * yw[2]));
    for (let ch = 0; ch < 3; ch++) out[ch][i] = yOut > 0 ? h(f(o[ch] * f(yIn / yOut))) : o[ch];
  }
  return out;
}
