// Median threshold bitmaps (G. Ward, "Fast, robust image registration for compositing high
// dynamic range photographs from hand-held exposures", J. Graphics Tools 8(2), 2003). Each
// frame is thresholded at the same quantile of its own values, so the two bitmaps agree
// whatever the exposure and the camera's curve; pixels within a noise band of the
// threshold are left out. The integer shift is searched coarse to fine: ±radius at the
// coarsest level, then ±1 around twice the coarser answer at each finer one.

import { type Plane, quantile } from "./plane.ts";

/** Half-width of the excluded band around each threshold (Ward's 4 of 255 codes). */
const BAND = 4 / 255;

/**
 * The quantile to threshold at: the median unless that is near black or clipped in either
 * frame (a dark frame's median can be noise), else the nearest quantile well exposed in both.
 */
function chooseQuantile(a: Plane, b: Plane): number {
  let best = 0.5, bestMargin = -Infinity;
  for (let k = 0; k <= 16; k++) {
    const q = 0.5 + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 0.05;
    const ta = quantile(a.data, q), tb = quantile(b.data, q);
    const margin = Math.min(ta, 1 - ta, tb, 1 - tb);
    if (margin >= 0.1) return q;
    if (margin > bestMargin) [best, bestMargin] = [q, margin];
  }
  return best;
}

interface Bitmap {
  bits: Uint8Array;
  /** 1 where the value is clear of the threshold's noise band. */
  use: Uint8Array;
}

function bitmap(p: Plane, q: number): Bitmap {
  const t = quantile(p.data, q), s = p.data, n = s.length;
  const bits = new Uint8Array(n), use = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    bits[i] = s[i] > t ? 1 : 0;
    use[i] = Math.abs(s[i] - t) > BAND ? 1 : 0;
  }
  return { bits, use };
}

/** Fraction of the compared pixels whose bits differ, with the frame shifted by (dx, dy). */
function mismatch(r: Bitmap, f: Bitmap, w: number, h: number, dx: number, dy: number): number {
  let differ = 0, compared = 0;
  const y0 = Math.max(0, -dy), y1 = Math.min(h, h - dy), x0 = Math.max(0, -dx);
  const x1 = Math.min(w, w - dx);
  for (let y = y0; y < y1; y++) {
    const a = y * w, b = (y + dy) * w + dx;
    for (let x = x0; x < x1; x++) {
      const u = r.use[a + x] & f.use[b + x];
      compared += u;
      differ += u & (r.bits[a + x] ^ f.bits[b + x]);
    }
  }
  return compared ? differ / compared : 1;
}

/**
 * The integer shift (dx, dy), in level-0 pixels, such that frame(x + dx, y + dy) shows what
 * ref(x, y) shows. `ref` and `frame` are pyramids (level 0 first) of luma planes; the search
 * runs from the coarsest level down to level `finest`.
 */
export function mtbShift(
  ref: Plane[],
  frame: Plane[],
  radius: number,
  finest = 0,
): [number, number] {
  // Quantiles hardly change with the level: choose on the coarsest.
  const q = chooseQuantile(ref[ref.length - 1], frame[frame.length - 1]);
  let sx = 0, sy = 0;
  for (let l = ref.length - 1; l >= finest; l--) {
    const r = bitmap(ref[l], q), f = bitmap(frame[l], q), { width: w, height: h } = ref[l];
    const reach = l === ref.length - 1 ? radius : 1;
    let best = Infinity, bx = sx, by = sy;
    for (let dy = sy - reach; dy <= sy + reach; dy++) {
      for (let dx = sx - reach; dx <= sx + reach; dx++) {
        // A tie goes to the smaller shift.
        const e = mismatch(r, f, w, h, dx, dy) + 1e-9 * (dx * dx + dy * dy);
        if (e < best) [best, bx, by] = [e, dx, dy];
      }
    }
    [sx, sy] = l > finest ? [2 * bx, 2 * by] : [bx, by];
  }
  return [sx * 2 ** finest, sy * 2 ** finest];
}
