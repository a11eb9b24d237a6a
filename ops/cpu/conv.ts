// conv2d on the CPU as GEMMs.
//   x [n, cin, h, w], weight [cout, cin/groups, kh, kw], y [n, cout, oh, ow]
// Three paths:
// - 1×1, stride 1, no padding: one GEMM straight on x.
// - stride 1 ("padded-width"): x is copied once into a zero-padded plane of width Wp, and
//   outputs are computed on an oh×Wp grid whose last Wp−ow columns are discarded. Then
//   every kernel tap is a constant shift of the padded input, so the forward is kh·kw GEMMs
//   on shifted views (no im2col at all), and the filter gradient's column rows are single
//   long memcpys.
// - otherwise: classic im2col / col2im, a band of output rows at a time.
// Stride-1 backward-data is the forward conv of dy with the flipped, transposed kernel.
// Bands keep the working set small (the full im2col of a 60-channel 256² image is 141 MB);
// their sizes were tuned on a 2-core EPYC with OpenBLAS 0.3.21.

import type { Conv2dGeometry } from "../backend.ts";
import { sizeOf } from "../shape.ts";
import type { Sgemm } from "./gemm.ts";
import { walkParams } from "./tasks.ts";
import { parallel } from "./threads.ts";

/** A strided copy split over the threads (the padding and cropping copies around GEMMs). */
function copy(
  shape: readonly number[],
  src: Float32Array,
  srcOff: number,
  srcStrides: readonly number[],
  dst: Float32Array,
  dstOff: number,
  dstStrides: readonly number[],
): void {
  const params = [srcOff, dstOff, ...walkParams(shape, srcStrides, dstStrides)];
  parallel("copy", sizeOf(shape), [src, dst], params);
}

/** Target column-tile size in floats: big enough for GEMM efficiency, small enough for cache. */
const TILE_FLOATS = 1 << 20;
/** Output positions per band for the shifted GEMMs (measured best around 8–16k). */
const SHIFT_BAND = 1 << 15;

// Scratch buffers live across calls: fresh 16 MB arrays cost ~4k page faults each, which
// was a fifth of a conv step. A slot keeps its zeroed regions while its geometry key is
// unchanged (only interiors are rewritten), and is re-zeroed when the key changes.
// Buffers over 256 MB are not kept.
const enum Slot {
  Padded,
  Wide,
  WideGrad,
  Col,
  Taps,
  Flip,
}
const scratchBufs: Float32Array[] = [];
const scratchKeys: string[] = [];
const SCRATCH_KEEP_MAX = 1 << 26;

function scratch(slot: Slot, n: number, key = ""): Float32Array {
  if (n > SCRATCH_KEEP_MAX) return new Float32Array(n);
  let buf = scratchBufs[slot];
  if (!buf || buf.length < n) {
    buf = scratchBufs[slot] = new Float32Array(n);
  } else if (scratchKeys[slot] !== key) buf.fill(0, 0, n);
  scratchKeys[slot] = key;
  return buf.length === n ? buf : buf.subarray(0, n);
}

function bandRows(k: number, oh: number, ow: number): number {
  return Math.max(1, Math.min(oh, Math.floor(TILE_FLOATS / (k * ow))));
}

export function isPointwise(g: Conv2dGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 &&
    g.padW === 0;
}

/**
 * Walks the rows of a column tile for output rows r0 ≤ oy < r0+rows of one group: `d` is the
 * row's offset in the tile col[(ci,ky,kx), (oy−r0)·ow + ox], `s` the input offset that output
 * column 0 would read (possibly outside the image row), [lo, hi) the output columns that read
 * inside it, and `inside` whether the input row exists at all.
 */
function columnRows(
  xOff: number,
  cig: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
  visit: (d: number, s: number, lo: number, hi: number, inside: boolean) => void,
): void {
  const { h, w, kh, kw, ow, strideH, strideW, padH, padW, dilH, dilW } = g;
  const np = rows * ow;
  for (let ci = 0; ci < cig; ci++) {
    const plane = xOff + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const base = ((ci * kh + ky) * kw + kx) * np;
        const dx = kx * dilW - padW;
        // valid ox: 0 ≤ ox·strideW + dx < w
        const lo = Math.min(ow, Math.max(0, Math.ceil(-dx / strideW)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((w - 1 - dx) / strideW) + 1));
        for (let r = 0; r < rows; r++) {
          const iy = (r0 + r) * strideH - padH + ky * dilH;
          visit(base + r * ow, plane + iy * w + dx, lo, hi, iy >= 0 && iy < h);
        }
      }
    }
  }
}

/** The column tile for output rows r0 ≤ oy < r0+rows of one group (zeros outside the image). */
function im2col(
  x: Float32Array,
  xOff: number,
  cig: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
  col: Float32Array,
): void {
  const { ow, strideW } = g;
  columnRows(xOff, cig, g, r0, rows, (d, s, lo, hi, inside) => {
    if (!inside) return col.fill(0, d, d + ow);
    if (lo > 0) col.fill(0, d, d + lo);
    if (hi < ow) col.fill(0, d + hi, d + ow);
    if (strideW === 1) col.set(x.subarray(s + lo, s + hi), d + lo);
    else for (let ox = lo; ox < hi; ox++) col[d + ox] = x[s + ox * strideW];
  });
}

/** Scatter-adds a column tile back into dx (the adjoint of im2col). */
function col2im(
  col: Float32Array,
  dx: Float32Array,
  xOff: number,
  cig: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
): void {
  const { strideW } = g;
  columnRows(xOff, cig, g, r0, rows, (d, s, lo, hi, inside) => {
    if (inside) { for (let ox = lo; ox < hi; ox++) dx[s + ox * strideW] += col[d + ox]; }
  });
}

/** Geometry of the padded-width layout for a stride-1 conv. */
interface Padded {
  hp: number;
  wp: number;
  plane: number; // hp·wp
  /** elements past the last plane that shifted reads may touch */
  slack: number;
}

function padded(g: Conv2dGeometry): Padded {
  const hp = g.h + 2 * g.padH, wp = g.w + 2 * g.padW;
  return { hp, wp, plane: hp * wp, slack: (g.kw - 1) * g.dilW };
}

/** Copies image b of x [n, c, h, w] into the interior of xp (borders stay zero). */
function fillPadded(
  x: Float32Array,
  b: number,
  c: number,
  g: Conv2dGeometry,
  p: Padded,
  xp: Float32Array,
): void {
  copy([c, g.h, g.w], x, b * c * g.h * g.w, [g.h * g.w, g.w, 1], xp, g.padH * p.wp + g.padW, [
    p.plane,
    p.wp,
    1,
  ]);
}

/** Shift of tap t = (ky, kx) in the padded plane. */
function tapOffset(g: Conv2dGeometry, p: Padded, t: number): number {
  const ky = Math.floor(t / g.kw), kx = t % g.kw;
  return ky * g.dilH * p.wp + kx * g.dilW;
}

/** Sets each channel row of a band of C (rows of length np, stride ldc) to its bias, or 0. */
function initBand(
  c: Float32Array,
  bias: Float32Array | null,
  c0: number,
  rows: number,
  np: number,
  ldc: number,
): void {
  for (let r = 0; r < rows; r++) c.fill(bias ? bias[c0 + r] : 0, r * ldc, r * ldc + np);
}

/** Stride-1 forward: per group and band, bias + Σ_taps W_tap [cog×cig] · shifted xp [cig × np]. */
function conv2dShifted(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
): void {
  const { n, cin, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, taps = kh * kw;
  const p = padded(g);
  // wt[g][t] = weight[g·cog.., :, t] as a cog×cig matrix
  const wt = scratch(Slot.Taps, weight.length);
  for (let co = 0; co < cout; co++) {
    const gi = Math.floor(co / cog), r = co % cog;
    for (let ci = 0; ci < cig; ci++) {
      for (let t = 0; t < taps; t++) {
        wt[((gi * taps + t) * cog + r) * cig + ci] = weight[(co * cig + ci) * taps + t];
      }
    }
  }
  const key = JSON.stringify(g);
  const xp = scratch(Slot.Padded, cin * p.plane + p.slack, key);
  const band = Math.max(1, Math.round(SHIFT_BAND / p.wp));
  // One band of outputs, Wp wide, cropped into y as soon as it is done (cache-warm).
  const yb = scratch(Slot.Wide, cog * band * p.wp);
  for (let b = 0; b < n; b++) {
    fillPadded(x, b, cin, g, p, xp);
    for (let gi = 0; gi < groups; gi++) {
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * p.wp;
        initBand(yb, bias, gi * cog, cog, np, np);
        for (let t = 0; t < taps; t++) {
          const src = xp.subarray(gi * cig * p.plane + tapOffset(g, p, t) + r0 * p.wp);
          const wtt = wt.subarray((gi * taps + t) * cog * cig);
          sgemm(false, false, cog, np, cig, 1, wtt, cig, src, p.plane, 1, yb, np);
        }
        const yOff = ((b * cout + gi * cog) * oh + r0) * ow;
        copy([cog, rows, ow], yb, 0, [np, p.wp, 1], y, yOff, [oh * ow, ow, 1]);
      }
    }
  }
}

/** Stride-1 filter gradient: im2col rows are shifted spans of xp; dy is laid out Wp wide with zeroed tails. */
function conv2dShiftedFilter(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
): void {
  const { n, cin, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, taps = kh * kw, k = cig * taps;
  const p = padded(g);
  const key = JSON.stringify(g);
  const xp = scratch(Slot.Padded, cin * p.plane + p.slack, key);
  const dyw = scratch(Slot.WideGrad, cout * oh * p.wp, key);
  const band = Math.max(1, Math.floor(TILE_FLOATS / (k * p.wp)));
  const col = scratch(Slot.Col, k * band * p.wp);
  for (let b = 0; b < n; b++) {
    fillPadded(x, b, cin, g, p, xp);
    copy([cout, oh, ow], dy, b * cout * oh * ow, [oh * ow, ow, 1], dyw, 0, [oh * p.wp, p.wp, 1]);
    for (let gi = 0; gi < groups; gi++) {
      for (let r0 = 0; r0 < oh; r0 += band) {
        const np = Math.min(band, oh - r0) * p.wp;
        for (let ci = 0; ci < cig; ci++) {
          for (let t = 0; t < taps; t++) {
            const s = (gi * cig + ci) * p.plane + tapOffset(g, p, t) + r0 * p.wp;
            col.set(xp.subarray(s, s + np), (ci * taps + t) * np);
          }
        }
        const beta = b === 0 && r0 === 0 ? 0 : 1;
        sgemm(
          false,
          true,
          cog,
          k,
          np,
          1,
          dyw.subarray((gi * cog * oh + r0) * p.wp),
          oh * p.wp,
          col,
          np,
          beta,
          dw.subarray(gi * cog * k),
          k,
        );
      }
    }
  }
}

export function conv2dForward(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const pointwise = isPointwise(g);
  if (!pointwise && g.strideH === 1 && g.strideW === 1) {
    return conv2dShifted(sgemm, g, x, weight, bias, y);
  }
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : scratch(Slot.Col, k * band * ow);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      const wg = weight.subarray(gi * cog * k);
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        const c = y.subarray(yOff + r0 * ow);
        initBand(c, bias, gi * cog, cog, np, p);
        if (col) im2col(x, xOff, cig, g, r0, rows, col);
        sgemm(
          false,
          false,
          cog,
          np,
          k,
          1,
          wg,
          k,
          col ?? x.subarray(xOff + r0 * ow),
          col ? np : p,
          1,
          c,
          p,
        );
      }
    }
  }
}

export function conv2dBackwardData(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  dy: Float32Array,
  weight: Float32Array,
  dx: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups, padH, padW, dilH, dilW } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const tpadH = dilH * (kh - 1) - padH, tpadW = dilW * (kw - 1) - padW;
  if (g.strideH === 1 && g.strideW === 1 && tpadH >= 0 && tpadW >= 0 && !isPointwise(g)) {
    // dx = conv(dy, flip(weight) with in/out swapped per group), stride 1, pad d(k-1)-p.
    const kk = kh * kw;
    const wt = scratch(Slot.Flip, weight.length);
    for (let gi = 0; gi < groups; gi++) {
      for (let co = 0; co < cog; co++) {
        for (let ci = 0; ci < cig; ci++) {
          const src = ((gi * cog + co) * cig + ci) * kk;
          const dst = ((gi * cig + ci) * cog + co) * kk;
          for (let t = 0; t < kk; t++) wt[dst + t] = weight[src + kk - 1 - t];
        }
      }
    }
    conv2dForward(
      sgemm,
      {
        n,
        cin: cout,
        h: oh,
        w: ow,
        cout: cin,
        kh,
        kw,
        oh: h,
        ow: w,
        strideH: 1,
        strideW: 1,
        padH: tpadH,
        padW: tpadW,
        dilH,
        dilW,
        groups,
      },
      dy,
      wt,
      null,
      dx,
    );
    return;
  }
  const pointwise = isPointwise(g);
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : scratch(Slot.Col, k * band * ow);
  if (col) dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      const wg = weight.subarray(gi * cog * k);
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        const gy = dy.subarray(yOff + r0 * ow);
        if (col) {
          sgemm(true, false, k, np, cog, 1, wg, k, gy, p, 0, col, np);
          col2im(col, dx, xOff, cig, g, r0, rows);
        } else {
          sgemm(true, false, k, np, cog, 1, wg, k, gy, p, 0, dx.subarray(xOff), p);
        }
      }
    }
  }
}

export function conv2dBackwardFilter(
  sgemm: Sgemm,
  g: Conv2dGeometry,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, groups } = g;
  const cig = cin / groups, cog = cout / groups, k = cig * kh * kw, p = oh * ow;
  const pointwise = isPointwise(g);
  if (!pointwise && g.strideH === 1 && g.strideW === 1) {
    return conv2dShiftedFilter(sgemm, g, x, dy, dw);
  }
  const band = pointwise ? oh : bandRows(k, oh, ow);
  const col = pointwise ? null : scratch(Slot.Col, k * band * ow);
  for (let gi = 0; gi < groups; gi++) {
    const dwg = dw.subarray(gi * cog * k);
    let beta = 0;
    for (let b = 0; b < n; b++) {
      const xOff = (b * cin + gi * cig) * h * w;
      const yOff = (b * cout + gi * cog) * p;
      for (let r0 = 0; r0 < oh; r0 += band) {
        const rows = Math.min(band, oh - r0), np = rows * ow;
        const gy = dy.subarray(yOff + r0 * ow);
        if (col) {
          im2col(x, xOff, cig, g, r0, rows, col);
          sgemm(false, true, cog, k, np, 1, gy, p, col, np, beta, dwg, k);
        } else {
          sgemm(false, true, cog, k, np, 1, gy, p, x.subarray(xOff), p, beta, dwg, k);
        }
        beta = 1;
      }
    }
  }
}
