// The CPU backend on oneDNN (the library PyTorch's CPU path runs on): convolutions
// (dnnl_conv.ts), eltwise maps and their backwards, broadcasting binary ops, matmul,
// softmax, layer norm, pooling and strided copies are oneDNN primitives, threaded on every
// core, built once per shape (dnnl_kernels.ts). The rest runs on the TypeScript/OpenBLAS
// backend it is built on, threaded by ops/cpu/threads.ts: what oneDNN lacks (Restormer's
// bias-free layer norm, binary ops where the first operand broadcasts, Adam), and what it
// does slower here: sums (2.6.3's reduction took 2.4 s of a 12.2 s paper-literal training
// step, ours 0.36 s) and resampling (its portable kernel took 16 ms for a 4×60×64² → 128²
// bilinear upsample and 18 ms for the backward, ours 6.5 and 7 on two threads; its jit
// forward, 2 ms, segfaulted on some shapes on an earlier machine and has no backward).

import {
  alg,
  arg,
  dimsOf,
  type MemoryDesc,
  normFlags,
  prop,
  query,
  SIZES,
} from "../../native/dnnl.ts";
import type { Backend, UnaryOp } from "../backend.ts";
import { dnnlConv } from "./dnnl_conv.ts";
import { dnnlContext, f, type Kernel } from "./dnnl_kernels.ts";

/** oneDNN eltwise [algorithm, alpha, beta] for a unary op, forward and backward. */
function eltwise(
  op: UnaryOp,
  a: number,
  b: number,
  backward: boolean,
): [number, number, number, "src" | "dst"] {
  switch (op) {
    case "affine":
      return [alg.eltwiseLinear, a, b, "src"];
    case "exp":
      return [alg.eltwiseExp, 0, 0, "src"];
    case "log":
      return [alg.eltwiseLog, 0, 0, "src"];
    case "sqrt":
      return [alg.eltwiseSqrt, 0, 0, "src"];
    case "abs":
      return [alg.eltwiseAbs, 0, 0, "src"];
    case "pow":
      return [alg.eltwisePow, 1, a, "src"];
    case "clamp":
      return [alg.eltwiseClip, a, b, "src"];
    case "relu":
      return [alg.eltwiseRelu, 0, 0, "src"];
    case "leakyRelu":
      return [alg.eltwiseRelu, a, 0, "src"];
    case "sigmoid":
      // The backward from y: a fused conv activation has only its output to give.
      return backward
        ? [alg.eltwiseLogisticUseDst, 0, 0, "dst"]
        : [alg.eltwiseLogistic, 0, 0, "src"];
    case "tanh":
      return [alg.eltwiseTanh, 0, 0, "src"];
    case "gelu":
      return [alg.eltwiseGeluErf, 0, 0, "src"];
    case "silu":
      return [alg.eltwiseSwish, 1, 0, "src"];
  }
}

/**
 * Strides with those of size-1 axes (which address nothing) set as a dense layout would
 * have them, so oneDNN recognises a dense tensor and picks a fast kernel.
 */
function denseOnes(dims: readonly number[], strides: readonly number[]): number[] {
  const st = [...strides];
  for (let i = dims.length - 1; i >= 0; i--) {
    if (dims[i] === 1) st[i] = i === dims.length - 1 ? 1 : st[i + 1] * dims[i + 1];
  }
  return st;
}

export function createDnnlBackend(name: string, base: Backend): Backend {
  const ctx = dnnlContext(base);
  const { d, s, build, kernel, run, tmp, release, reorderTo } = ctx;
  const conv = dnnlConv(ctx);
  // ---- Small helpers for one-shot primitives keyed by shape ----
  const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

  function eltwiseKernel(op: UnaryOp, n: number, a: number, b: number, backward: boolean): Kernel {
    const [k, alpha, beta, from] = eltwise(op, a, b, backward);
    return kernel(`eltwise ${backward} ${op} ${n} ${a} ${b}`, () => {
      const md = d.md([n]);
      if (!backward) {
        const p = d.primitive(
          "dnnl_eltwise_forward_desc_init",
          SIZES.eltwise,
          (desc) =>
            s.dnnl_eltwise_forward_desc_init(desc, prop.forwardTraining, k, md, alpha, beta),
        );
        return build(p, [[arg.src, md], [arg.dst, md]]);
      }
      const fwdAlg = eltwise(op, a, b, true)[0];
      const hint = d.primitive(
        "dnnl_eltwise_forward_desc_init",
        SIZES.eltwise,
        (desc) =>
          s.dnnl_eltwise_forward_desc_init(desc, prop.forwardTraining, fwdAlg, md, alpha, beta),
      );
      const p = d.primitive(
        "dnnl_eltwise_backward_desc_init",
        SIZES.eltwise,
        (desc) => s.dnnl_eltwise_backward_desc_init(desc, k, md, md, alpha, beta),
        [],
        hint,
      );
      return build(p, [[from === "dst" ? arg.dst : arg.src, md], [arg.diffDst, md], [
        arg.diffSrc,
        md,
      ]]);
    });
  }

  /** Softmax over the rows of `md` ([rows, cols]); also the backward's hint. */
  const softmaxForward = (md: MemoryDesc) =>
    d.primitive(
      "dnnl_softmax_v2_forward_desc_init",
      SIZES.softmax,
      (desc) =>
        s.dnnl_softmax_v2_forward_desc_init(
          desc,
          prop.forwardTraining,
          alg.softmaxAccurate,
          md,
          md,
          1,
        ),
    );

  const backend: Backend = {
    ...base,
    name,
    upload(dst, src) {
      conv.dirty(dst);
      base.upload(dst, src);
    },
    fill(dst, v) {
      conv.dirty(dst);
      base.fill(dst, v);
    },
    free(buf) {
      conv.dirty(buf);
      base.free(buf);
    },
    adam(p, g, m, v, step) {
      conv.dirty(p);
      base.adam(p, g, m, v, step);
    },

    copy(shape, src, so, ss, dst, dO, ds) {
      const n = sizeOf(shape);
      if (n === 0) return;
      if (shape.length === 0 || n < 4096) return base.copy(shape, src, so, ss, dst, dO, ds);
      const k = kernel(`copy ${shape} ${ss} ${ds}`, () => {
        const a = d.md(shape, ss), b = d.md(shape, ds);
        return build(d.reorder(a, b), [[arg.src, a], [arg.dst, b]]);
      });
      run(k, [[f(src), so], [f(dst), dO]]);
    },

    unary(op, x, y, a, b) {
      const n = f(y).length;
      if (n < 1024) return base.unary(op, x, y, a, b);
      run(eltwiseKernel(op, n, a, b, false), [f(x), f(y)]);
    },
    unaryBackward(op, x, y, g, dx, a, b) {
      const n = f(dx).length;
      if (n < 1024) return base.unaryBackward(op, x, y, g, dx, a, b);
      const from = eltwise(op, a, b, true)[3];
      run(eltwiseKernel(op, n, a, b, true), [from === "dst" ? f(y) : f(x), f(g), f(dx)]);
    },

    binary(op, shape, a, as, b, bs, out) {
      const n = sizeOf(shape);
      if (n === 0) return;
      // oneDNN broadcasts only its second operand: swap commutative ops, else fall back.
      const aFull = shape.every((dim, i) => dim === 1 || as[i] !== 0);
      const bFull = shape.every((dim, i) => dim === 1 || bs[i] !== 0);
      let [p, ps, q, qs, o] = [a, as, b, bs, op];
      if (!aFull && bFull && (op === "add" || op === "mul")) [p, ps, q, qs] = [b, bs, a, as];
      else if (!aFull) return base.binary(op, shape, a, as, b, bs, out);
      if (n < 1024 || shape.length === 0) return base.binary(op, shape, a, as, b, bs, out);
      // oneDNN's fast kernels broadcast per channel (axis 1): a coalesced [C, X] with a
      // [C, 1] operand becomes [1, C, X].
      const lead = shape[0] > 1 && qs[0] !== 0 ? 1 : 0;
      const dims = lead ? [1, ...shape] : [...shape];
      const pStr = lead ? [0, ...ps] : [...ps], qStr = lead ? [0, ...qs] : [...qs];
      const qDims = dims.map((dim, i) => (qStr[i] === 0 ? 1 : dim));
      const k = kernel(`binary ${o} ${shape} ${ps} ${qs}`, () => {
        const m0 = d.md(dims, denseOnes(dims, pStr)), m1 = d.md(qDims, denseOnes(qDims, qStr));
        const md = d.md(dims);
        const algo =
          { add: alg.binaryAdd, sub: alg.binarySub, mul: alg.binaryMul, div: alg.binaryDiv }[o];
        const prim = d.primitive(
          "dnnl_binary_desc_init",
          SIZES.binary,
          (desc) => s.dnnl_binary_desc_init(desc, algo, m0, m1, md),
        );
        return build(prim, [[arg.src, m0], [arg.src1, m1], [arg.dst, md]]);
      });
      run(k, [f(p), f(q), f(out)]);
    },

    gemm(p) {
      const { transA, transB, m, n, k, batch, alpha, beta, a, b, c } = p;
      if (alpha !== 1 || beta !== 0 || m === 0 || n === 0) return base.gemm(p);
      const dims = (shared: boolean) => (shared ? 1 : batch);
      const kern = kernel(
        `matmul ${
          JSON.stringify({ ...p, a: { ...a, buf: 0 }, b: { ...b, buf: 0 }, c: { ...c, buf: 0 } })
        }`,
        () => {
          const mA = d.md([dims(a.stride === 0), m, k], [
            a.stride || m * k,
            transA ? 1 : a.ld,
            transA ? a.ld : 1,
          ]);
          const mB = d.md([dims(b.stride === 0), k, n], [
            b.stride || k * n,
            transB ? 1 : b.ld,
            transB ? b.ld : 1,
          ]);
          const mC = d.md([batch, m, n], [c.stride, c.ld, 1]);
          const prim = d.primitive(
            "dnnl_matmul_desc_init",
            SIZES.matmul,
            (desc) => s.dnnl_matmul_desc_init(desc, mA, mB, null, mC),
          );
          return build(prim, [[arg.src, mA], [arg.weights, mB], [arg.dst, mC]]);
        },
      );
      run(kern, [[f(a.buf), a.off], [f(b.buf), b.off], [f(c.buf), c.off]]);
    },

    softmax(x, y, rows, cols) {
      const k = kernel(`softmax ${rows} ${cols}`, () => {
        const md = d.md([rows, cols]);
        return build(softmaxForward(md), [[arg.src, md], [arg.dst, md]]);
      });
      run(k, [f(x), f(y)]);
    },
    softmaxBackward(y, g, dx, rows, cols) {
      const k = kernel(`softmax bwd ${rows} ${cols}`, () => {
        const md = d.md([rows, cols]);
        const prim = d.primitive(
          "dnnl_softmax_v2_backward_desc_init",
          SIZES.softmax,
          (desc) => s.dnnl_softmax_v2_backward_desc_init(desc, alg.softmaxAccurate, md, md, md, 1),
          [],
          softmaxForward(md),
        );
        return build(prim, [[arg.dst, md], [arg.diffDst, md], [arg.diffSrc, md]]);
      });
      run(k, [f(y), f(g), f(dx)]);
    },

    // Layer norm across channels. oneDNN normalises the last axis and is fast only where it
    // is dense, so [n, c, hw] is transposed to [n, hw, c] around it (two fast reorders beat
    // the reference kernel on the strided layout by 20×). `rstd` carries oneDNN's variance
    // between forward and backward (it is backend-private). Bias-free: TypeScript.
    layerNorm(geo, x, w, b, y, mean, rstd) {
      if (!b) return base.layerNorm(geo, x, w, b, y, mean, rstd);
      const t = channelsLast(geo), xt = t.into(f(x)), yt = tmp(4 * f(x).length);
      run(layerNormKernel(geo, false), [xt, yt, f(w), f(b), f(mean), f(rstd)]);
      t.back(yt, f(y));
      release(xt);
    },
    layerNormBackward(geo, x, w, mean, rstd, g, dx, dw, db) {
      if (!db) return base.layerNormBackward(geo, x, w, mean, rstd, g, dx, dw, db);
      const t = channelsLast(geo), xt = t.into(f(x)), gt = t.into(f(g));
      const dxt = tmp(4 * f(x).length);
      // The primitive lists the shift among its inputs but never reads it: w stands in.
      run(layerNormKernel(geo, true), [xt, gt, dxt, f(w), f(w), f(mean), f(rstd), f(dw), f(db)]);
      t.back(dxt, f(dx));
      release(xt);
      release(gt);
    },

    conv2d: conv.conv2d,
    conv2dBackwardData: conv.conv2dBackwardData,
    conv2dBackwardFilter: conv.conv2dBackwardFilter,

    avgPool2d(geo, x, y) {
      run(poolKernel("avg", geo, false), [f(x), f(y)]);
    },
    avgPool2dBackward(geo, g, dx) {
      run(poolKernel("avg", geo, true), [f(g), f(dx)]);
    },
    maxPool2d(geo, x, y, argmax) {
      // oneDNN's workspace (the winners) lives in the argmax buffer between the passes.
      run(poolKernel("max", geo, false), [f(x), f(y), f(argmax)]);
    },
    maxPool2dBackward(geo, g, argmax, dx) {
      run(poolKernel("max", geo, true), [f(g), f(argmax), f(dx)]);
    },
  };

  /** [n, c, hw] ↔ [n, hw, c] through pooled temporaries. */
  function channelsLast({ n, c, hw }: { n: number; c: number; hw: number }) {
    const planar = d.md([n, hw, c], [c * hw, 1, hw]), last = d.md([n, hw, c]);
    const key = `${n} ${c} ${hw}`;
    return {
      into(buf: Float32Array): Float32Array {
        const t = tmp(4 * buf.length);
        reorderTo(planar, last, `to channels-last ${key}`, buf, t);
        return t;
      },
      back(t: Float32Array, buf: Float32Array): void {
        reorderTo(last, planar, `from channels-last ${key}`, t, buf);
        release(t);
      },
    };
  }

  function layerNormKernel(
    geo: { n: number; c: number; hw: number; eps: number },
    backward: boolean,
  ): Kernel {
    const { n, c, hw, eps } = geo;
    return kernel(`lnorm ${backward} ${n} ${c} ${hw} ${eps}`, () => {
      const data = d.md([n, hw, c]);
      const stat = d.md([n, hw]);
      const wmd = d.md([c]);
      const flags = normFlags.useScale | normFlags.useShift;
      const fwd = d.primitive(
        "dnnl_layer_normalization_forward_desc_init",
        SIZES.layerNorm,
        (desc) =>
          s.dnnl_layer_normalization_forward_desc_init(
            desc,
            prop.forwardTraining,
            data,
            stat,
            eps,
            flags,
          ),
      );
      if (!backward) {
        return build(fwd, [[arg.src, data], [arg.dst, data], [arg.scale, wmd], [arg.shift, wmd], [
          arg.mean,
          stat,
        ], [arg.variance, stat]]);
      }
      const p = d.primitive(
        "dnnl_layer_normalization_backward_desc_init",
        SIZES.layerNorm,
        (desc) =>
          s.dnnl_layer_normalization_backward_desc_init(
            desc,
            prop.backward,
            data,
            data,
            stat,
            eps,
            flags,
          ),
        [],
        fwd,
      );
      return build(p, [
        [arg.src, data],
        [arg.diffDst, data],
        [arg.diffSrc, data],
        [arg.scale, wmd],
        [arg.shift, wmd],
        [arg.mean, stat],
        [arg.variance, stat],
        [arg.diffScale, wmd],
        [arg.diffShift, wmd],
      ]);
    });
  }

  function poolKernel(
    kind: "avg" | "max",
    g: { planes: number; h: number; w: number; oh: number; ow: number; k: number; stride: number },
    backward: boolean,
  ): Kernel {
    return kernel(`pool ${kind} ${backward} ${JSON.stringify(g)}`, () => {
      const src = d.md([1, g.planes, g.h, g.w]), dst = d.md([1, g.planes, g.oh, g.ow]);
      const st = dimsOf([g.stride, g.stride]), kk = dimsOf([g.k, g.k]), dl = dimsOf([0, 0]);
      const pad = dimsOf([0, 0]);
      const a = kind === "max" ? alg.poolingMax : alg.poolingAvgExcludePadding;
      const fwd = d.primitive(
        "dnnl_pooling_v2_forward_desc_init",
        SIZES.pooling,
        (desc) =>
          s.dnnl_pooling_v2_forward_desc_init(
            desc,
            prop.forwardTraining,
            a,
            src,
            dst,
            st,
            kk,
            dl,
            pad,
            pad,
          ),
      );
      const ws = kind === "max" ? d.queryMd(fwd.pd, query.workspaceMd) : null;
      if (ws && d.mdSize(ws) > g.planes * g.oh * g.ow * 4) {
        throw new Error(
          `max pooling: oneDNN's workspace (${d.mdSize(ws)} bytes) outgrows its buffer`,
        );
      }
      if (!backward) {
        return build(
          fwd,
          ws
            ? [[arg.src, src], [arg.dst, dst], [arg.workspace, ws]]
            : [[arg.src, src], [arg.dst, dst]],
        );
      }
      const p = d.primitive(
        "dnnl_pooling_v2_backward_desc_init",
        SIZES.pooling,
        (desc) => s.dnnl_pooling_v2_backward_desc_init(desc, a, src, dst, st, kk, dl, pad, pad),
        [],
        fwd,
      );
      return build(
        p,
        ws
          ? [[arg.diffDst, dst], [arg.workspace, ws], [arg.diffSrc, src]]
          : [[arg.diffDst, dst], [arg.diffSrc, src]],
      );
    });
  }

  return backend;
}
