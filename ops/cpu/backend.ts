// The CPU backends: buffers are Float32Arrays. `createOpenBlasBackend` is the portable one:
// GEMM-shaped work goes to OpenBLAS (or the TypeScript GEMM), everything else is the
// TypeScript kernels beside this file, split over every core by threads.ts.
// `createCpuBackend` puts oneDNN (dnnl_backend.ts) on top of it when the library loads.

import type { Backend, DeviceBuffer, GemmOperand } from "../backend.ts";
import { sizeOf } from "../shape.ts";
import { Arena } from "./arena.ts";
import { createDnnlBackend } from "./dnnl_backend.ts";
import { conv2dBackwardData, conv2dBackwardFilter, conv2dForward } from "./conv.ts";
import { reducePlan } from "./elementwise.ts";
import { gemmProvider } from "./gemm.ts";
import { parallel } from "./threads.ts";
import {
  adamParams,
  layerNormParams,
  opIndex,
  poolParams,
  resampleParams,
  walkParams,
} from "./tasks.ts";

const f = (b: DeviceBuffer) => b as Float32Array;

/** Sums over flagged axes, split over the outermost kept axis. */
function reduceSum(
  x: Float32Array,
  shape: readonly number[],
  reduce: readonly boolean[],
  out: Float32Array,
) {
  const p = reducePlan(shape, reduce);
  parallel(
    "reduceSum",
    p.items,
    [x, out],
    [p.dims.length, ...p.dims, ...p.red.map(Number)],
    x.length,
  );
}

export function createOpenBlasBackend(name = "cpu"): Backend {
  const sgemm = () => gemmProvider().sgemm;
  const arena = new Arena();
  const unary: Backend["unary"] = (op, x, out, a, b) =>
    parallel("unary", out.length, [f(x), f(out)], [opIndex(op), a, b]);
  const binary: Backend["binary"] = (op, shape, a, as, b, bs, out) =>
    parallel("binary", sizeOf(shape), [f(a), f(b), f(out)], [
      opIndex(op),
      ...walkParams(shape, as, bs),
    ]);
  return {
    name,
    alloc: (n) => arena.alloc(n),
    free: (buf) => arena.free(f(buf)),
    upload: (dst, src) => f(dst).set(src),
    download: (src) => f(src).slice(),
    fill: (dst, v) => parallel("fill", dst.length, [f(dst)], [v]),
    copy: (shape, src, so, ss, dst, dO, ds) =>
      parallel("copy", sizeOf(shape), [f(src), f(dst)], [so, dO, ...walkParams(shape, ss, ds)]),
    unary,
    unaryBackward: (op, x, y, g, dx, a, b) =>
      parallel("unaryBackward", dx.length, [f(x), f(y), f(g), f(dx)], [opIndex(op), a, b]),
    binary,
    reduceSum: (x, shape, reduce, out) => reduceSum(f(x), shape, reduce, f(out)),
    gemm({ transA, transB, m, n, k, batch, alpha, beta, a, b, c }) {
      const run = sgemm();
      const at = (o: GemmOperand, i: number) => f(o.buf).subarray(o.off + i * o.stride);
      for (let i = 0; i < batch; i++) {
        run(transA, transB, m, n, k, alpha, at(a, i), a.ld, at(b, i), b.ld, beta, at(c, i), c.ld);
      }
    },
    softmax: (x, y, rows, cols) => parallel("softmax", rows, [f(x), f(y)], [cols], rows * cols),
    softmaxBackward: (y, g, dx, rows, cols) =>
      parallel("softmaxBackward", rows, [f(y), f(g), f(dx)], [cols], rows * cols),
    layerNorm(geo, x, w, b, y, mean, rstd) {
      const p = [...layerNormParams(geo), b ? 1 : 0], size = geo.n * geo.c * geo.hw;
      const bufs = [x, w, b ?? w, y, mean, rstd].map(f);
      parallel("layerNorm", geo.n * geo.hw, bufs, p, size);
    },
    layerNormBackward(geo, x, w, mean, rstd, g, dx, dw, db) {
      const size = geo.n * geo.c * geo.hw;
      parallel("layerNormBackwardData", geo.n * geo.hw, [x, w, mean, rstd, g, dx].map(f), [
        ...layerNormParams(geo),
        db ? 0 : 1,
      ], size);
      parallel("layerNormBackwardWeights", geo.c, [x, mean, rstd, g, dw, db ?? dw].map(f), [
        ...layerNormParams(geo),
        db ? 1 : 0,
      ], size);
    },
    conv2d(geo, x, w, bias, y, act, add) {
      conv2dForward(sgemm(), geo, f(x), f(w), bias as Float32Array | null, f(y));
      if (act) unary(act.op, y, y, act.slope ?? 0, 0);
      if (add) binary("add", [y.length], y, [1], add, [1], y);
    },
    conv2dBackwardData: (geo, g, w, dx) => conv2dBackwardData(sgemm(), geo, f(g), f(w), f(dx)),
    conv2dBackwardFilter(geo, x, g, dw, db) {
      conv2dBackwardFilter(sgemm(), geo, f(x), f(g), f(dw));
      if (db) reduceSum(f(g), [geo.n, geo.cout, geo.oh * geo.ow], [true, false, true], f(db));
    },
    avgPool2d: (geo, x, y) =>
      parallel("avgPool2d", geo.planes, [f(x), f(y)], poolParams(geo), x.length),
    avgPool2dBackward: (geo, g, dx) =>
      parallel("avgPool2dBackward", geo.planes, [f(g), f(dx)], poolParams(geo), dx.length),
    maxPool2d: (geo, x, y, argmax) =>
      parallel("maxPool2d", geo.planes, [f(x), f(y), f(argmax)], poolParams(geo), x.length),
    maxPool2dBackward: (geo, g, argmax, dx) =>
      parallel(
        "maxPool2dBackward",
        geo.planes,
        [f(g), f(argmax), f(dx)],
        poolParams(geo),
        dx.length,
      ),
    resample: (geo, x, y) =>
      parallel("resample", geo.planes * geo.oh, [f(x), f(y)], resampleParams(geo), y.length),
    resampleBackward: (geo, g, dx) =>
      parallel("resampleBackward", geo.planes, [f(g), f(dx)], resampleParams(geo), g.length),
    adam: (p, g, m, v, step) => parallel("adam", p.length, [p, g, m, v].map(f), adamParams(step)),
  };
}

let warned = false;

/**
 * oneDNN on the OpenBLAS backend, or the OpenBLAS backend alone (said once on stderr) when
 * oneDNN cannot be opened; LFDIFF_CPU=openblas chooses the latter on purpose.
 */
export function createCpuBackend(name = "cpu"): Backend {
  let want = "";
  try {
    want = Deno.env.get("LFDIFF_CPU") ?? "";
  } catch { /* no --allow-env: the default */ }
  const base = createOpenBlasBackend(name);
  if (want === "openblas") return base;
  try {
    return createDnnlBackend(name, base);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    if (!warned) console.error(`lfdiff: ${(e as Error).message}; the CPU runs on OpenBLAS alone`);
    warned = true;
    return base;
  }
}
