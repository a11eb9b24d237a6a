// Resampling a rectangle of a radiance map onto a raster: separable, with a triangle filter
// that widens to the footprint when shrinking (so no aliasing) and is bilinear when
// enlarging. Panoramas wrap around horizontally; rows clamp at the edges.

import type { RadianceMap } from "./maps.ts";

/** A rectangle of the map: source x of output column i is x0 + (i + 0.5)·step (mirrored if flip). */
export interface Region {
  x0: number;
  y0: number;
  /** Map pixels per output pixel. */
  step: number;
  flip: boolean;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

function taps(n: number, origin: number, step: number, flip: boolean, size: number, wrap: boolean) {
  const radius = Math.max(step, 1);
  const most = Math.ceil(2 * radius) + 2;
  const t: Taps = {
    start: new Int32Array(n),
    count: new Int32Array(n),
    index: new Int32Array(n * most),
    weight: new Float32Array(n * most),
  };
  for (let i = 0; i < n; i++) {
    const u = origin + ((flip ? n - 1 - i : i) + 0.5) * step;
    const lo = Math.floor(u - radius - 0.5), hi = Math.ceil(u + radius - 0.5);
    let k = i * most, sum = 0;
    t.start[i] = k;
    for (let j = lo; j <= hi; j++) {
      const w = 1 - Math.abs(j + 0.5 - u) / radius;
      if (w <= 0) continue;
      t.index[k] = wrap ? ((j % size) + size) % size : Math.min(Math.max(j, 0), size - 1);
      t.weight[k++] = w;
      sum += w;
    }
    t.count[i] = k - t.start[i];
    for (let q = t.start[i]; q < k; q++) t.weight[q] /= sum;
  }
  return t;
}

/** The region resampled to w×h interleaved RGB. */
export function resampleRegion(
  map: Pick<RadianceMap, "width" | "height" | "data" | "panorama">,
  r: Region,
  w: number,
  h: number,
): Float32Array {
  const cols = taps(w, r.x0, r.step, r.flip, map.width, map.panorama);
  const rows = taps(h, r.y0, r.step, false, map.height, false);
  // Horizontal pass over the rows the vertical taps reach.
  let r0 = map.height, r1 = 0;
  for (let y = 0; y < h; y++) {
    for (let q = rows.start[y]; q < rows.start[y] + rows.count[y]; q++) {
      r0 = Math.min(r0, rows.index[q]);
      r1 = Math.max(r1, rows.index[q] + 1);
    }
  }
  const mid = new Float32Array((r1 - r0) * w * 3), src = map.data, mw = map.width;
  for (let y = r0; y < r1; y++) {
    const row = y * mw, o = (y - r0) * w * 3;
    for (let x = 0; x < w; x++) {
      let a = 0, b = 0, c = 0;
      for (let q = cols.start[x], e = q + cols.count[x]; q < e; q++) {
        const p = (row + cols.index[q]) * 3, wt = cols.weight[q];
        a += wt * src[p];
        b += wt * src[p + 1];
        c += wt * src[p + 2];
      }
      mid[o + 3 * x] = a;
      mid[o + 3 * x + 1] = b;
      mid[o + 3 * x + 2] = c;
    }
  }
  const out = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const o = y * w * 3;
    for (let q = rows.start[y], e = q + rows.count[y]; q < e; q++) {
      const m = (rows.index[q] - r0) * w * 3, wt = rows.weight[q];
      for (let i = 0; i < w * 3; i++) out[o + i] += wt * mid[m + i];
    }
  }
  return out;
}
