// Brightness transfer between two exposures of one scene: the monotone curve that sends a
// value of one frame to the value the other records for the same radiance.
// Without a camera response it comes from the two histograms alone. Two exposures of a static
// scene put the same radiance at the same quantile, so the transfer is histogram
// specification (Grossberg & Nayar 2003, "What can be known about the radiometric response
// from images?"). It needs no registration: a shift or a small mover hardly changes a
// histogram. With a response (the inverse camera curve of each frame) it is
// f_to⁻¹(2^(EV_to − EV_from) · f_from(v)).

const BINS = 4096;

/** A monotone map of [0, 1], tabulated at BINS + 1 evenly spaced values 0, 1/BINS, …, 1. */
export type ToneCurve = Float32Array;

export function applyCurve(c: ToneCurve, v: number): number {
  const x = (v <= 0 ? 0 : v >= 1 ? 1 : v) * BINS, i = Math.min(Math.floor(x), BINS - 1);
  return c[i] + (x - i) * (c[i + 1] - c[i]);
}

/** (value, mid-rank quantile) of every level the samples take, in increasing order. */
function quantiles(s: Float32Array): { value: number[]; q: number[] } {
  const count = new Float64Array(BINS), sum = new Float64Array(BINS), n = s.length;
  for (let i = 0; i < n; i++) {
    const v = s[i] <= 0 ? 0 : s[i] >= 1 ? 1 : s[i];
    const b = Math.min(Math.floor(v * BINS), BINS - 1);
    count[b]++;
    sum[b] += v;
  }
  const value: number[] = [], q: number[] = [];
  let below = 0;
  for (let b = 0; b < BINS; b++) {
    if (!count[b]) continue;
    value.push(sum[b] / count[b]);
    q.push((below + count[b] / 2) / n);
    below += count[b];
  }
  return { value, q };
}

/** Piecewise-linear interpolation through increasing knots xs, held constant beyond them. */
function interpolate(xs: number[], ys: number[], x: number, from = 0): [number, number] {
  let k = from;
  while (k < xs.length - 1 && xs[k + 1] < x) k++;
  if (x <= xs[0]) return [ys[0], 0];
  if (k >= xs.length - 1) return [ys[ys.length - 1], k];
  const t = (x - xs[k]) / (xs[k + 1] - xs[k]);
  return [ys[k] + t * (ys[k + 1] - ys[k]), k];
}

/** The transfer from one frame's values to another's by matching their histograms. */
export function transferByHistogram(from: Float32Array, to: Float32Array): ToneCurve {
  const f = quantiles(from), t = quantiles(to);
  const mapped: number[] = [];
  let k = 0;
  for (const q of f.q) {
    const [y, at] = interpolate(t.q, t.value, q, k);
    mapped.push(y);
    k = at;
  }
  const c = new Float32Array(BINS + 1);
  k = 0;
  for (let i = 0; i <= BINS; i++) {
    const [y, at] = interpolate(f.value, mapped, i / BINS, k);
    c[i] = y;
    k = at;
  }
  return c;
}

/**
 * The transfer through inverse camera responses: a value v of the `from` frame has exposure
 * linFrom(v), which the `to` frame records `gain` times stronger (gain = 2^(EV_to − EV_from));
 * the curve gives the `to` value whose exposure that is, 1 where it would clip. linTo must be
 * non-decreasing.
 */
export function transferByResponse(
  linFrom: (v: number) => number,
  linTo: (v: number) => number,
  gain: number,
): ToneCurve {
  const table = new Float64Array(BINS + 1);
  for (let i = 0; i <= BINS; i++) table[i] = linTo(i / BINS);
  const c = new Float32Array(BINS + 1);
  for (let i = 0; i <= BINS; i++) {
    const e = gain * linFrom(i / BINS);
    if (e <= table[0]) continue;
    if (e >= table[BINS]) {
      c[i] = 1;
      continue;
    }
    let lo = 0, hi = BINS;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (table[mid] <= e) lo = mid;
      else hi = mid;
    }
    const span = table[hi] - table[lo];
    c[i] = (lo + (span > 0 ? (e - table[lo]) / span : 0)) / BINS;
  }
  return c;
}
