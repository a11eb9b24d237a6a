// 3×3 projective transforms of pixel coordinates, row-major, acting on (x, y, 1) with pixel
// centres at integer coordinates. Alignment maps a reference pixel to the frame pixel that
// shows the same point (warping samples the frame there), so these are the warps it uses.

/** Row-major 3×3 matrix; h[8] is kept at 1. */
export type Homography = number[];

export function identity(): Homography {
  return [1, 0, 0, 0, 1, 0, 0, 0, 1];
}

export function translation(tx: number, ty: number): Homography {
  return [1, 0, tx, 0, 1, ty, 0, 0, 1];
}

/** a·b: apply b, then a. */
export function compose(a: Homography, b: Homography): Homography {
  const c = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      c[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    }
  }
  return normalise(c);
}

export function invert(h: Homography): Homography {
  const [a, b, c, d, e, f, g, k, l] = h;
  const A = e * l - f * k, B = f * g - d * l, C = d * k - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error("singular homography");
  return normalise([
    A / det,
    (c * k - b * l) / det,
    (b * f - c * e) / det,
    B / det,
    (a * l - c * g) / det,
    (c * d - a * f) / det,
    C / det,
    (b * g - a * k) / det,
    (a * e - b * d) / det,
  ]);
}

function normalise(h: Homography): Homography {
  const s = h[8];
  return Math.abs(s) > 1e-12 ? h.map((v) => v / s) : h;
}

/** Where H sends the point (x, y). */
export function apply(h: Homography, x: number, y: number): [number, number] {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

/**
 * The transform at the next finer pyramid level. A level's pixel i averages the finer
 * pixels 2i and 2i+1, so its centre lies at 2i + 0.5 there: x_fine = S·x_coarse with
 * S = [2 0 0.5; 0 2 0.5; 0 0 1], and H_fine = S·H·S⁻¹.
 */
export function toFinerLevel(h: Homography): Homography {
  const s = [2, 0, 0.5, 0, 2, 0.5, 0, 0, 1], sInv = [0.5, 0, -0.25, 0, 0.5, -0.25, 0, 0, 1];
  return compose(s, compose(h, sInv));
}

/** S⁻¹·H·S, the inverse of toFinerLevel. */
export function toCoarserLevel(h: Homography): Homography {
  const s = [2, 0, 0.5, 0, 2, 0.5, 0, 0, 1], sInv = [0.5, 0, -0.25, 0, 0.5, -0.25, 0, 0, 1];
  return compose(sInv, compose(h, s));
}

/**
 * The largest distance between where a and b send the points of a 5×5 grid spanning a
 * width×height image (corners included): how far apart two warps put any pixel, in pixels.
 */
export function maxDisplacement(
  a: Homography,
  b: Homography,
  width: number,
  height: number,
): number {
  let most = 0;
  for (let i = 0; i <= 4; i++) {
    for (let j = 0; j <= 4; j++) {
      const x = (i / 4) * (width - 1), y = (j / 4) * (height - 1);
      const [ax, ay] = apply(a, x, y), [bx, by] = apply(b, x, y);
      most = Math.max(most, Math.hypot(ax - bx, ay - by));
    }
  }
  return most;
}

/**
 * Solves the n×n symmetric positive-definite system A·x = b (A row-major) by Cholesky;
 * null when A is not positive definite (too little texture to constrain the parameters).
 */
export function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 1e-10 * a[i * n + i])) return null;
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}
