// Single-channel images (a luma plane, a validity mask) and the few operations alignment
// runs on them: a 2×2 box pyramid, a [1 2 1] blur, gradients, bilinear sampling, erosion.

export interface Plane {
  width: number;
  height: number;
  data: Float32Array;
}

/** 1 where a pixel may be compared, 0 where not (clipped, near black, outside). */
export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Half size, each pixel the mean of a 2×2 block (an odd last row or column is dropped). */
export function halve(p: Plane): Plane {
  const w = p.width >> 1, h = p.height >> 1, out = new Float32Array(w * h), s = p.data;
  for (let y = 0; y < h; y++) {
    const a = 2 * y * p.width, b = a + p.width;
    for (let x = 0; x < w; x++) {
      const i = 2 * x;
      out[y * w + x] = 0.25 * (s[a + i] + s[a + i + 1] + s[b + i] + s[b + i + 1]);
    }
  }
  return { width: w, height: h, data: out };
}

/** Half size, valid only where the whole 2×2 block is. */
export function halveMask(m: Mask): Mask {
  const w = m.width >> 1, h = m.height >> 1, out = new Uint8Array(w * h), s = m.data;
  for (let y = 0; y < h; y++) {
    const a = 2 * y * m.width, b = a + m.width;
    for (let x = 0; x < w; x++) {
      const i = 2 * x;
      out[y * w + x] = s[a + i] & s[a + i + 1] & s[b + i] & s[b + i + 1];
    }
  }
  return { width: w, height: h, data: out };
}

/** The image and its successive halvings, `levels` in all. */
export function pyramid<T extends Plane | Mask>(
  base: T,
  levels: number,
  halveOne: (p: T) => T,
): T[] {
  const out = [base];
  while (out.length < levels) out.push(halveOne(out[out.length - 1]));
  return out;
}

/** Separable Gaussian blur (taps to 3σ, rounded), edges replicated. */
function gaussianBlur(p: Plane, sigma: number): Plane {
  const { width: w, height: h, data: s } = p, r = Math.max(1, Math.round(3 * sigma));
  const k = Array.from(
    { length: 2 * r + 1 },
    (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)),
  );
  const total = k.reduce((a, b) => a + b);
  const taps = Float32Array.from(k, (v) => v / total);
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h);
  const row = new Float32Array(w + 2 * r);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    row.set(s.subarray(o, o + w), r);
    row.fill(s[o], 0, r);
    row.fill(s[o + w - 1], w + r);
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let j = 0; j <= 2 * r; j++) v += taps[j] * row[x + j];
      tmp[o + x] = v;
    }
  }
  const rows = new Int32Array(2 * r + 1);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let j = 0; j <= 2 * r; j++) rows[j] = Math.min(Math.max(y + j - r, 0), h - 1) * w;
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let j = 0; j <= 2 * r; j++) v += taps[j] * tmp[rows[j] + x];
      out[o + x] = v;
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * Normalised convolution: the Gaussian-weighted mean of the valid pixels around each pixel,
 * and `coverage`, the share of the kernel's weight that fell on valid pixels (0 to 1).
 * Excluded pixels (clipped, outside) then never leak into their neighbours' values.
 */
export function smoothValid(p: Plane, m: Mask, sigma: number): { value: Plane; coverage: Plane } {
  const masked = new Float32Array(p.data.length), weight = new Float32Array(p.data.length);
  for (let i = 0; i < masked.length; i++) {
    masked[i] = m.data[i] ? p.data[i] : 0;
    weight[i] = m.data[i];
  }
  const size = { width: p.width, height: p.height };
  const value = gaussianBlur({ ...size, data: masked }, sigma);
  const coverage = gaussianBlur({ ...size, data: weight }, sigma);
  for (let i = 0; i < masked.length; i++) {
    value.data[i] = coverage.data[i] > 1e-3 ? value.data[i] / coverage.data[i] : 0;
  }
  return { value, coverage };
}

/** Central-difference gradients, one-sided at the edges. */
export function gradients(p: Plane): { gx: Float32Array; gy: Float32Array } {
  const { width: w, height: h, data: s } = p;
  const gx = new Float32Array(w * h), gy = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 1; x < w - 1; x++) gx[r + x] = 0.5 * (s[r + x + 1] - s[r + x - 1]);
    if (w > 1) {
      gx[r] = s[r + 1] - s[r];
      gx[r + w - 1] = s[r + w - 1] - s[r + w - 2];
    }
    const u = Math.max(y - 1, 0) * w, d = Math.min(y + 1, h - 1) * w;
    const scale = 1 / Math.max((d - u) / w, 1);
    for (let x = 0; x < w; x++) gy[r + x] = scale * (s[d + x] - s[u + x]);
  }
  return { gx, gy };
}

/** Bilinear sample at (x, y), which must lie in [0, width−1] × [0, height−1]. */
export function sample(p: Plane, x: number, y: number): number {
  const w = p.width;
  const ix = Math.min(Math.floor(x), w - 2), iy = Math.min(Math.floor(y), p.height - 2);
  const tx = x - ix, ty = y - iy, i = iy * w + ix, s = p.data;
  const top = s[i] + tx * (s[i + 1] - s[i]), bottom = s[i + w] + tx * (s[i + w + 1] - s[i + w]);
  return top + ty * (bottom - top);
}

/** Valid only where the whole 3×3 neighbourhood is (pixels beside an excluded one go too). */
export function erode(m: Mask): Mask {
  const { width: w, height: h, data: s } = m;
  const rows = new Uint8Array(w * h), out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 0; x < w; x++) {
      rows[r + x] = s[r + x] & s[r + Math.max(x - 1, 0)] & s[r + Math.min(x + 1, w - 1)];
    }
  }
  for (let y = 0; y < h; y++) {
    const u = Math.max(y - 1, 0) * w, r = y * w, d = Math.min(y + 1, h - 1) * w;
    for (let x = 0; x < w; x++) out[r + x] = rows[u + x] & rows[r + x] & rows[d + x];
  }
  return { width: w, height: h, data: out };
}

/**
 * The value below which a fraction q of values[0..n) lies, from a histogram over [0, hi]
 * (to hi/8192; values outside count at the ends).
 */
export function quantile(values: ArrayLike<number>, q: number, hi = 1, n = values.length): number {
  const bins = 8192, h = new Uint32Array(bins);
  for (let i = 0; i < n; i++) {
    h[Math.min(Math.max(Math.floor((values[i] / hi) * bins), 0), bins - 1)]++;
  }
  let seen = 0;
  for (let b = 0; b < bins; b++) {
    seen += h[b];
    if (seen >= q * n) return ((b + 0.5) / bins) * hi;
  }
  return hi;
}
