// The CPU backends: buffers are Float32Arrays. `createOpenBlasBackend` is the portable one:
// GEMM-shaped work goes to OpenBLAS (or the TypeScript GEMM), everything else is the
// TypeScript kernels beside this file. `createCpuBackend` puts oneDNN (dnnl_backend.ts)
// on top of it when the library loads, which runs nearly everything threaded.

import type { Backend, DeviceBuffer, GemmOperand } from "../backend.ts";
import { adam } from "./adam.ts";
import { Arena } from "./arena.ts";
import { createDnnlBackend } from "./dnnl_backend.ts";
import { conv2dBackwardData, conv2dBackwardFilter, conv2dForward } from "./conv.ts";
import { binary, copy, reduceSum, unary, unaryBackward } from "./elementwise.ts";
import { gemmProvider } from "./gemm.ts";
import { layerNorm, layerNormBackward } from "./layer_norm.ts";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pool.ts";
import { resample, resampleBackward } from "./resample.ts";
import { softmax, softmaxBackward } from "./softmax.ts";

const f = (b: DeviceBuffer) => b as Float32Array;
const fOrNull = (b: DeviceBuffer | null) => b as Float32Array | null;

export function createOpenBlasBackend(name = "cpu"): Backend {
  const sgemm = () => gemmProvider().sgemm;
  const arena = new Arena();
  return {
    name,
    alloc: (n) => arena.alloc(n),
    free: (buf) => arena.free(f(buf)),
    upload: (dst, src) => f(dst).set(src),
    download: (src) => f(src).slice(),
    fill: (dst, v) => f(dst).fill(v),
    copy: (shape, src, so, ss, dst, dO, ds) => copy(shape, f(src), so, ss, f(dst), dO, ds),
    unary: (op, x, out, a, b) => unary(op, f(x), f(out), a, b),
    unaryBackward: (op, x, y, g, dx, a, b) => unaryBackward(op, f(x), f(y), f(g), f(dx), a, b),
    binary: (op, shape, a, as, b, bs, out) => binary(op, shape, f(a), as, f(b), bs, f(out)),
    reduceSum: (x, shape, reduce, out) => reduceSum(f(x), shape, reduce, f(out)),
    gemm({ transA, transB, m, n, k, batch, alpha, beta, a, b, c }) {
      const run = sgemm();
      const at = (o: GemmOperand, i: number) => f(o.buf).subarray(o.off + i * o.stride);
      for (let i = 0; i < batch; i++) {
        run(transA, transB, m, n, k, alpha, at(a, i), a.ld, at(b, i), b.ld, beta, at(c, i), c.ld);
      }
    },
    softmax: (x, y, rows, cols) => softmax(f(x), f(y), rows, cols),
    softmaxBackward: (y, g, dx, rows, cols) => softmaxBackward(f(y), f(g), f(dx), rows, cols),
    layerNorm: (geo, x, w, b, y, mean, rstd) =>
      layerNorm(geo, f(x), f(w), fOrNull(b), f(y), f(mean), f(rstd)),
    layerNormBackward: (geo, x, w, mean, rstd, g, dx, dw, db) =>
      layerNormBackward(geo, f(x), f(w), f(mean), f(rstd), f(g), f(dx), f(dw), fOrNull(db)),
    conv2d(geo, x, w, bias, y, act) {
      conv2dForward(sgemm(), geo, f(x), f(w), fOrNull(bias), f(y));
      if (act) unary(act.op, f(y), f(y), act.slope ?? 0, 0);
    },
    conv2dBackwardData: (geo, g, w, dx) => conv2dBackwardData(sgemm(), geo, f(g), f(w), f(dx)),
    conv2dBackwardFilter(geo, x, g, dw, db) {
      conv2dBackwardFilter(sgemm(), geo, f(x), f(g), f(dw));
      if (db) reduceSum(f(g), [geo.n, geo.cout, geo.oh * geo.ow], [true, false, true], f(db));
    },
    avgPool2d: (geo, x, y) => avgPool2d(geo, f(x), f(y)),
    avgPool2dBackward: (geo, g, dx) => avgPool2dBackward(geo, f(g), f(dx)),
    maxPool2d: (geo, x, y, argmax) => maxPool2d(geo, f(x), f(y), f(argmax)),
    maxPool2dBackward: (geo, g, argmax, dx) => maxPool2dBackward(geo, f(g), f(argmax), f(dx)),
    resample: (geo, x, y) => resample(geo, f(x), f(y)),
    resampleBackward: (geo, g, dx) => resampleBackward(geo, f(g), f(dx)),
    adam: (p, g, m, v, step) => adam(f(p), f(g), f(m), f(v), step),
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
