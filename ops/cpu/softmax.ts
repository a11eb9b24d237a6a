// Softmax over the last axis: x, y [rows, cols]; rows [lo, hi).

export function softmax(
  x: Float32Array,
  y: Float32Array,
  cols: number,
  lo: number,
  hi: number,
): void {
  for (let r = lo; r < hi; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[o + j] - max);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) y[o + j] *= inv;
  }
}

/** dx = y * (g - Σ g*y) per row. */
export function softmaxBackward(
  y: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  cols: number,
  lo: number,
  hi: number,
): void {
  for (let r = lo; r < hi; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += g[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (g[o + j] - dot);
  }
}
