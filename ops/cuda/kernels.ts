// The CUDA backend's own kernels, as one CUDA C source compiled by NVRTC on first use (and
// cached on disk). No #includes, so NVRTC needs no headers. Every primitive of the CPU
// backend that is not a GEMM or a convolution has its kernel here; the launch geometry is
// in ops/cuda/backend.ts. A unary op's code is its index in UNARY_OPS (ops/backend.ts); the
// switch cases below are generated from these records, so every op has both directions.

import { UNARY_OPS, type UnaryOp } from "../backend.ts";

/** y = f(x; a, b) */
const FORWARD: Record<UnaryOp, string> = {
  affine: "x * a + b",
  exp: "expf(x)",
  log: "logf(x)",
  sqrt: "sqrtf(x)",
  abs: "fabsf(x)",
  pow: "powf(x, a)",
  clamp: "fminf(fmaxf(x, a), b)",
  relu: "x > 0.f ? x : 0.f",
  leakyRelu: "x > 0.f ? x : x * a",
  sigmoid: "1.f / (1.f + expf(-x))",
  tanh: "tanhf(x)",
  gelu: "0.5f * x * (1.f + erff(x * 0.70710678118654752f))",
  silu: "x / (1.f + expf(-x))",
};

/** dx = g · f'(x), given x and y = f(x) */
const BACKWARD: Record<UnaryOp, string> = {
  affine: "g * a",
  exp: "g * y",
  log: "g / x",
  sqrt: "g / (2.f * y)",
  abs: "x > 0.f ? g : (x < 0.f ? -g : 0.f)",
  pow: "a == 0.f ? 0.f : g * a * powf(x, a - 1.f)",
  clamp: "(x >= a && x <= b) ? g : 0.f",
  relu: "y > 0.f ? g : 0.f",
  leakyRelu: "x > 0.f ? g : g * a",
  sigmoid: "g * y * (1.f - y)",
  tanh: "g * (1.f - y * y)",
  gelu:
    "g * (0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * 0.3989422804014327f * expf(-0.5f * x * x))",
  silu: "g * (1.f / (1.f + expf(-x))) * (1.f + x * (1.f - 1.f / (1.f + expf(-x))))",
};

const cases = (body: Record<UnaryOp, string>) =>
  UNARY_OPS.map((op, i) => `    case ${i}: return ${body[op]};`).join("\n");

export const MAX_RANK = 8;

export const KERNELS = /* cuda */ `
typedef long long i64;
struct Strided { i64 rank; i64 shape[${MAX_RANK}]; i64 a[${MAX_RANK}]; i64 b[${MAX_RANK}]; };

__device__ __forceinline__ void offsets(const Strided& s, i64 i, i64& oa, i64& ob) {
  oa = 0; ob = 0;
  for (int d = (int)s.rank - 1; d >= 0; d--) {
    i64 c = i % s.shape[d]; i /= s.shape[d];
    oa += c * s.a[d]; ob += c * s.b[d];
  }
}

extern "C" __global__ void copy_strided(Strided s, i64 n, const float* src, i64 so, float* dst, i64 dof) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 a, b; offsets(s, i, a, b);
    dst[dof + b] = src[so + a];
  }
}

__device__ __forceinline__ float unary_f(int op, float x, float a, float b) {
  switch (op) {
${cases(FORWARD)}
  }
  return 0.f;
}

__device__ __forceinline__ float unary_b(int op, float x, float y, float g, float a, float b) {
  switch (op) {
${cases(BACKWARD)}
  }
  return 0.f;
}

extern "C" __global__ void unary(int op, i64 n, const float* x, float* y, float a, float b) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) y[i] = unary_f(op, x[i], a, b);
}

extern "C" __global__ void unary_backward(int op, i64 n, const float* x, const float* y, const float* g, float* dx, float a, float b) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) dx[i] = unary_b(op, x[i], y[i], g[i], a, b);
}

extern "C" __global__ void binary(int op, Strided s, i64 n, const float* a, const float* b, float* out) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 ia, ib; offsets(s, i, ia, ib);
    float u = a[ia], v = b[ib];
    out[i] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v;
  }
}

// Sums over reduced axes. The host merges adjacent axes, so kept and red (shape and
// input strides of the output and reduced axes) are short. Index math is 32-bit (I = int)
// whenever the input has fewer than 2^30 elements. Two layouts:
// - block per output (the innermost input axis is reduced, so a block's threads read
//   consecutive elements): block b sums part b % parts of output b / parts;
// - thread per output (the innermost axis is kept, so neighbouring threads read
//   neighbouring elements): block b covers blockDim outputs from (b % tiles)·blockDim, for
//   part b / tiles.
// With parts > 1 each part writes a double partial sum and reduce_finish adds them: two
// passes, so a full or leading-axis reduction still spreads over the whole device.
template <typename I> struct Axes { I rank; I shape[${MAX_RANK}]; I stride[${MAX_RANK}]; };

// Loops over all ${MAX_RANK} axes are unrolled with a rank guard so every index is a constant:
// the axes stay in registers and parameter space, not copied to local memory.
template <typename I> __device__ __forceinline__ I offset_of(const Axes<I>& a, I i) {
  I o = 0;
#pragma unroll
  for (int d = ${MAX_RANK} - 1; d >= 0; d--) if (d < a.rank) { I c = i % a.shape[d]; i /= a.shape[d]; o += c * a.stride[d]; }
  return o;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); the result is in thread 0.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warps[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) warps[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < (blockDim.x >> 5) ? warps[threadIdx.x] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;
}

template <typename I> __device__ void reduce_block(Axes<I> kept, Axes<I> red, I count, I chunk, int parts, const float* x, float* out, double* part) {
  I o = (I)(blockIdx.x / parts); int s = blockIdx.x % parts;
  I base = offset_of(kept, o), end = count - s * chunk < chunk ? count : (s + 1) * chunk;
  double acc = 0.0;
  for (I r = s * chunk + threadIdx.x; r < end; r += blockDim.x) acc += x[base + offset_of(red, r)];
  acc = block_sum(acc);
  if (threadIdx.x == 0) { if (parts > 1) part[(i64)o * parts + s] = acc; else out[o] = (float)acc; }
}

template <typename I> __device__ void reduce_thread(Axes<I> kept, Axes<I> red, I outputs, I count, I chunk, int tiles, const float* x, float* out, double* part) {
  int s = blockIdx.x / tiles, parts = gridDim.x / tiles;
  I o = (I)(blockIdx.x % tiles) * blockDim.x + threadIdx.x;
  if (o >= outputs) return;
  I base = offset_of(kept, o), r = s * chunk, end = count - r < chunk ? count : r + chunk;
  // Walk the reduced axes as an odometer: no division per element.
  I c[${MAX_RANK}], q = r, at = offset_of(red, r);
#pragma unroll
  for (int d = ${MAX_RANK} - 1; d >= 0; d--) if (d < red.rank) { c[d] = q % red.shape[d]; q /= red.shape[d]; }
  double acc = 0.0;
  for (; r < end; r++) {
    acc += x[base + at];
    bool carry = true;
#pragma unroll
    for (int d = ${MAX_RANK} - 1; d >= 0; d--) {
      if (carry && d < red.rank) {
        at += red.stride[d];
        carry = ++c[d] == red.shape[d];
        if (carry) { at -= red.stride[d] * red.shape[d]; c[d] = 0; }
      }
    }
  }
  if (parts > 1) part[(i64)s * outputs + o] = acc; else out[o] = (float)acc;
}

extern "C" __global__ void reduce_block_i32(Axes<int> kept, Axes<int> red, int count, int chunk, int parts, const float* x, float* out, double* part) { reduce_block<int>(kept, red, count, chunk, parts, x, out, part); }
extern "C" __global__ void reduce_block_i64(Axes<i64> kept, Axes<i64> red, i64 count, i64 chunk, int parts, const float* x, float* out, double* part) { reduce_block<i64>(kept, red, count, chunk, parts, x, out, part); }
extern "C" __global__ void reduce_thread_i32(Axes<int> kept, Axes<int> red, int outputs, int count, int chunk, int tiles, const float* x, float* out, double* part) { reduce_thread<int>(kept, red, outputs, count, chunk, tiles, x, out, part); }
extern "C" __global__ void reduce_thread_i64(Axes<i64> kept, Axes<i64> red, i64 outputs, i64 count, i64 chunk, int tiles, const float* x, float* out, double* part) { reduce_thread<i64>(kept, red, outputs, count, chunk, tiles, x, out, part); }

// Second pass: out[o] = Σ_s part[o·so + s·ss] over the parts of each output.
extern "C" __global__ void reduce_finish(const double* part, float* out, i64 outputs, int parts, i64 so, i64 ss) {
  i64 o = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (o >= outputs) return;
  double acc = 0.0;
  for (int s = 0; s < parts; s++) acc += part[o * so + s * ss];
  out[o] = (float)acc;
}

extern "C" __global__ void softmax_rows(const float* x, float* y, int cols) {
  __shared__ float red[256];
  const float* xr = x + (i64)blockIdx.x * cols; float* yr = y + (i64)blockIdx.x * cols;
  float m = -3.402823466e38f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
  red[threadIdx.x] = m; __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) { if (threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]); __syncthreads(); }
  m = red[0]; __syncthreads();
  float s = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) { float e = expf(xr[j] - m); yr[j] = e; s += e; }
  red[threadIdx.x] = s; __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) { if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w]; __syncthreads(); }
  float inv = 1.f / red[0];
  for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] *= inv;
}

extern "C" __global__ void softmax_rows_backward(const float* y, const float* g, float* dx, int cols) {
  __shared__ float red[256];
  i64 o = (i64)blockIdx.x * cols;
  float s = 0.f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) s += g[o + j] * y[o + j];
  red[threadIdx.x] = s; __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) { if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w]; __syncthreads(); }
  float dot = red[0];
  for (int j = threadIdx.x; j < cols; j += blockDim.x) dx[o + j] = y[o + j] * (g[o + j] - dot);
}

// Layer norm across channels: one thread per (image, pixel); b == 0 selects the bias-free form.
extern "C" __global__ void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int n, int c, i64 hw, float eps) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= n * hw) return;
  i64 img = i / hw, p = i % hw, base = img * c * hw + p;
  double s = 0.0;
  for (int k = 0; k < c; k++) s += x[base + k * hw];
  double mu = s / c, v = 0.0;
  for (int k = 0; k < c; k++) { double d = x[base + k * hw] - mu; v += d * d; }
  float r = (float)(1.0 / sqrt(v / c + eps));
  mean[i] = (float)mu; rstd[i] = r;
  for (int k = 0; k < c; k++) {
    float xv = x[base + k * hw];
    y[base + k * hw] = b ? (xv - (float)mu) * r * w[k] + b[k] : xv * r * w[k];
  }
}

extern "C" __global__ void layer_norm_backward_x(const float* x, const float* w, const float* mean, const float* rstd, const float* g, float* dx, int bias, int n, int c, i64 hw) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= n * hw) return;
  i64 img = i / hw, p = i % hw, base = img * c * hw + p;
  float r = rstd[i], mu = mean[i];
  double a1 = 0.0, a2 = 0.0;
  for (int k = 0; k < c; k++) {
    float gh = g[base + k * hw] * w[k], xv = x[base + k * hw];
    if (bias) { a1 += gh; a2 += gh * (xv - mu) * r; } else a2 += gh * xv;
  }
  for (int k = 0; k < c; k++) {
    float gh = g[base + k * hw] * w[k], xv = x[base + k * hw];
    dx[base + k * hw] = bias ? r * (gh - (float)(a1 / c) - (xv - mu) * r * (float)(a2 / c))
                             : r * gh - r * r * r * (xv - mu) * (float)(a2 / c);
  }
}

// dw's terms g·x̂ at every element; dw and db are then sums over images and pixels.
extern "C" __global__ void layer_norm_wb_terms(const float* x, const float* mean, const float* rstd, const float* g, float* t, int bias, int n, int c, i64 hw) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n * c * hw; i += (i64)gridDim.x * blockDim.x) {
    i64 m = i / (c * hw) * hw + i % hw; // (image, pixel) of element i
    t[i] = g[i] * (bias ? (x[i] - mean[m]) * rstd[m] : x[i] * rstd[m]);
  }
}

extern "C" __global__ void avg_pool(const float* x, float* y, i64 planes, int h, int w, int oh, int ow, int k, int st) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * oh * ow) return;
  i64 pl = i / (oh * ow); int o = i % (oh * ow), oy = o / ow, ox = o % ow;
  const float* xp = x + pl * h * w;
  float s = 0.f;
  for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) s += xp[(oy * st + ky) * w + ox * st + kx];
  y[i] = s / (k * k);
}

extern "C" __global__ void avg_pool_backward(const float* g, float* dx, i64 planes, int h, int w, int oh, int ow, int k, int st) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * h * w) return;
  i64 pl = i / (h * w); int p = i % (h * w), iy = p / w, ix = p % w;
  float s = 0.f;
  for (int oy = max(0, (iy - k + st) / st); oy <= min(oh - 1, iy / st); oy++)
    for (int ox = max(0, (ix - k + st) / st); ox <= min(ow - 1, ix / st); ox++)
      if (iy - oy * st < k && ix - ox * st < k) s += g[pl * oh * ow + oy * ow + ox];
  dx[i] = s / (k * k);
}

// argmax holds each output's winning input index within its plane, as int.
extern "C" __global__ void max_pool(const float* x, float* y, int* argmax, i64 planes, int h, int w, int oh, int ow, int k, int st) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * oh * ow) return;
  i64 pl = i / (oh * ow); int o = i % (oh * ow), oy = o / ow, ox = o % ow;
  const float* xp = x + pl * h * w;
  float best = -3.402823466e38f; int at = 0; bool first = true;
  for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
    int q = (oy * st + ky) * w + ox * st + kx; float v = xp[q];
    if (first || v > best || v != v) { best = v; at = q; first = false; }
  }
  y[i] = best; argmax[i] = at;
}

extern "C" __global__ void max_pool_backward(const float* g, const int* argmax, float* dx, i64 planes, int h, int w, int oh, int ow) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * oh * ow) return;
  i64 pl = i / (oh * ow);
  atomicAdd(dx + pl * h * w + argmax[i], g[i]);
}

// Nearest is PyTorch's nearest_idx (ATen UpSample.h): the scale and the product in float.
__device__ __forceinline__ void taps(int nearest, int o, int in, int out, int& i0, int& i1, float& l1) {
  float scale = (float)in / (float)out;
  if (nearest) { i0 = i1 = min((int)floorf(__fmul_rn((float)o, scale)), in - 1); l1 = 0.f; return; }
  float src = fmaxf((o + 0.5f) * scale - 0.5f, 0.f);
  i0 = min((int)floorf(src), in - 1); i1 = min(i0 + 1, in - 1); l1 = src - i0;
}

extern "C" __global__ void resample(int nearest, i64 planes, int h, int w, int oh, int ow, const float* x, float* y) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * oh * ow) return;
  i64 pl = i / (oh * ow); int o = i % (oh * ow), oy = o / ow, ox = o % ow;
  int y0, y1, x0, x1; float ly, lx;
  taps(nearest, oy, h, oh, y0, y1, ly); taps(nearest, ox, w, ow, x0, x1, lx);
  const float* p = x + pl * h * w;
  y[i] = (1.f - ly) * ((1.f - lx) * p[y0 * w + x0] + lx * p[y0 * w + x1]) + ly * ((1.f - lx) * p[y1 * w + x0] + lx * p[y1 * w + x1]);
}

extern "C" __global__ void resample_backward(int nearest, i64 planes, int h, int w, int oh, int ow, const float* g, float* dx) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= planes * oh * ow) return;
  i64 pl = i / (oh * ow); int o = i % (oh * ow), oy = o / ow, ox = o % ow;
  int y0, y1, x0, x1; float ly, lx;
  taps(nearest, oy, h, oh, y0, y1, ly); taps(nearest, ox, w, ow, x0, x1, lx);
  float* p = dx + pl * h * w; float v = g[i];
  atomicAdd(p + y0 * w + x0, (1.f - ly) * (1.f - lx) * v); atomicAdd(p + y0 * w + x1, (1.f - ly) * lx * v);
  atomicAdd(p + y1 * w + x0, ly * (1.f - lx) * v); atomicAdd(p + y1 * w + x1, ly * lx * v);
}

extern "C" __global__ void add_channel_bias(float* y, const float* bias, i64 n, int c, i64 hw) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n * c * hw; i += (i64)gridDim.x * blockDim.x) y[i] += bias[(i / hw) % c];
}

extern "C" __global__ void adam(float* p, const float* g, float* m, float* v, i64 n, float lr, float b1, float b2, float eps, float wd, float bias1, float bias2) {
  float step = lr / bias1, bc2 = sqrtf(bias2);
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float gi = wd != 0.f ? g[i] + wd * p[i] : g[i];
    float mi = b1 * m[i] + (1.f - b1) * gi, vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi; v[i] = vi;
    p[i] -= step * mi / (sqrtf(vi) / bc2 + eps);
  }
}
`;
