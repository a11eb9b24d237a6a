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
// On a CPU with oneDNN's avx512_core_bf16 (or AMX) ISA it holds bfloat16 buffers
// (ops/precision.ts says which): conv and matmul compute in bf16 with fp32 accumulation
// when a buffer of theirs is bf16, eltwise, binary, pooling and copies run on bf16 as they
// are, softmax and layer norm keep fp32 statistics, and the TypeScript kernels get fp32
// copies of bf16 buffers (`widened`). Conv outputs stay channels-last for the primitives
// that can read them so (dnnl_kernels.ts); the rest get them back in plain order (`onPlain`).

import {
  alg,
  arg,
  type DataType,
  dataType,
  dimsOf,
  type MemoryDesc,
  normFlags,
  prop,
  query,
  SIZES,
} from "../../native/dnnl.ts";
import type {
  Backend,
  BinaryOp,
  Gemm,
  GemmOperand,
  ResampleGeometry,
  UnaryOp,
} from "../backend.ts";
import { dnnlConv } from "./dnnl_conv.ts";
import { type Buf, dnnlContext, dtOf, f, type Kernel, toBf16 } from "./dnnl_kernels.ts";
import { reducePlan } from "./elementwise.ts";
import { taps } from "./resample.ts";
import { resampleParams } from "./tasks.ts";
import { parallel } from "./threads.ts";

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

const isBf16 = (b: unknown) => b instanceof Uint16Array;

/**
 * The box of a plain [n, c, h, w] tensor that a coalesced copy (shape, strides, offset)
 * reads: its origin and extent, and for each copy axis the box dims it spans (innermost
 * first, the inner ones whole); null when the copy reads something else.
 */
function boxOf(
  shape: readonly number[],
  st: readonly number[],
  off: number,
  dims: readonly number[],
): { origin: number[]; ext: number[]; spans: [number, number][] } | null {
  const plainSt = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
  const origin = plainSt.map((p, k) => Math.floor(off / p) % dims[k]);
  if (origin.reduce((acc, o, k) => acc + o * plainSt[k], 0) !== off) return null;
  const ext = [1, 1, 1, 1], spans: [number, number][] = new Array(shape.length);
  let k = 3;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) {
      spans[i] = [k + 1, k + 1];
      continue;
    }
    while (k >= 0 && plainSt[k] !== st[i]) k--; // skip dims the copy takes one of
    if (k < 0) return null;
    const hi = k;
    let covered = 1;
    while (k >= 0 && covered * (dims[k] - origin[k]) < shape[i]) {
      if (origin[k] !== 0) return null; // an inner dim spanned must be whole
      ext[k] = dims[k];
      covered *= dims[k];
      k--;
    }
    if (k < 0 || shape[i] % covered !== 0) return null;
    ext[k] = shape[i] / covered;
    if (origin[k] + ext[k] > dims[k]) return null;
    spans[i] = [k, hi];
    k--;
  }
  return { origin, ext, spans };
}

/** The other side of a boxed copy: its strides over the box dims (see boxOf). */
function stridesOver(
  shape: readonly number[],
  st: readonly number[],
  box: { ext: number[]; spans: [number, number][] },
): number[] | null {
  const out = [0, 0, 0, 0];
  for (let i = 0; i < shape.length; i++) {
    const [lo, hi] = box.spans[i];
    let s = st[i];
    for (let k = hi; k >= lo && k < 4; k--) {
      out[k] = s;
      s *= box.ext[k];
    }
  }
  return out;
}

/**
 * An operand's strides over a tensor's [n, c, h, w] dims, from the coalesced shape and
 * strides a binary op was given (0 where it broadcasts), or null where the coalesced axes
 * do not fall on those dims.
 */
function strides4(
  shape: readonly number[],
  st: readonly number[],
  dims: readonly number[],
): number[] | null {
  if (shape.reduce((a, b) => a * b, 1) !== dims.reduce((a, b) => a * b, 1)) return null;
  const out = [0, 0, 0, 0];
  let j = dims.length - 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    let covered = 1;
    for (; j >= 0 && covered < shape[i]; j--) {
      out[j] = st[i] === 0 || dims[j] === 1 ? 0 : st[i] * covered;
      covered *= dims[j];
    }
    if (covered !== shape[i]) return null;
  }
  return out;
}

export function createDnnlBackend(name: string, base: Backend): Backend {
  const ctx = dnnlContext(base);
  const { d, s, build, kernel, run, tmp, release, reorderTo, convert, widen, temporary } = ctx;
  const { nhwcMd, nhwcDims, markNhwc, unmark, plain, nhwcOf } = ctx;
  const conv = dnnlConv(ctx);
  // ---- Small helpers for one-shot primitives keyed by shape ----
  const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const sameType = (...bs: Buf[]) => bs.every((b) => dtOf(b) === dtOf(bs[0]));

  /**
   * A base (float32) kernel on buffers of either dtype: bf16 arguments are widened into
   * float32 temporaries, and those at positions `outs` computed there and narrowed back.
   */
  function widened<A extends unknown[]>(fn: (...a: A) => void, outs: readonly number[]) {
    return (...a: A): void => {
      if (!a.some(isBf16)) return fn(...a);
      const args = a.map((v, i) =>
        v instanceof Uint16Array ? (outs.includes(i) ? tmp(4 * v.length) : widen(v)) : v
      ) as A;
      fn(...args);
      a.forEach((v, i) => {
        if (!(v instanceof Uint16Array)) return;
        if (outs.includes(i)) convert(args[i] as Float32Array, v);
        release(args[i] as Float32Array);
      });
    };
  }

  /** The base GEMM on operands of either dtype (widened as above). */
  function gemm32(p: Gemm): void {
    const bufs = [p.a, p.b, p.c].map((o) => f(o.buf));
    if (!bufs.some(isBf16)) return base.gemm(p);
    const [a, b] = bufs.slice(0, 2).map(widen);
    const c = isBf16(bufs[2]) ? (p.beta ? widen(bufs[2]) : tmp(4 * bufs[2].length)) : bufs[2];
    base.gemm({ ...p, a: { ...p.a, buf: a }, b: { ...p.b, buf: b }, c: { ...p.c, buf: c } });
    if (c !== bufs[2]) {
      convert(c, bufs[2]);
      release(c);
    }
    for (const [k, t] of [a, b].entries()) if (t !== bufs[k]) release(t);
  }

  function eltwiseKernel(
    op: UnaryOp,
    n: number,
    a: number,
    b: number,
    backward: boolean,
    dt: DataType,
  ): Kernel {
    const [k, alpha, beta, from] = eltwise(op, a, b, backward);
    return kernel(`eltwise ${backward} ${op} ${n} ${a} ${b} ${dt}`, () => {
      const md = d.md([n], undefined, dt);
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
    bf16: d.bf16,
    alloc(n, dtype) {
      const b = dtype === "bfloat16" ? ctx.bf16(n) : f(base.alloc(n));
      ctx.fresh.add(b);
      return b;
    },
    free(buf) {
      conv.dirty(buf);
      unmark(f(buf));
      release(f(buf));
    },
    upload(dst, src) {
      conv.dirty(dst);
      unmark(f(dst));
      if (isBf16(dst)) convert(src, f(dst));
      else base.upload(dst, src);
    },
    download(src) {
      plain(f(src));
      if (!isBf16(src)) return base.download(src);
      const out = new Float32Array(src.length);
      convert(f(src), out);
      return out;
    },
    fill(dst, v) {
      conv.dirty(dst);
      unmark(f(dst));
      if (isBf16(dst)) (dst as Uint16Array).fill(toBf16(v));
      else base.fill(dst, v);
      // A constant reads the same in any layout: a channels-last copy into it (a pad, a
      // slice's gradient) may still lay it out so.
      ctx.fresh.add(f(dst));
    },
    adam(p, g, m, v, step) {
      conv.dirty(p);
      plain(...[p, g, m, v].map(f));
      base.adam(p, g, m, v, step);
    },

    copy(shape, src, so, ss, dst, dO, ds) {
      const n = sizeOf(shape);
      if (n === 0) return;
      const a = f(src), b = f(dst);
      if ((nhwcDims(b) || ctx.fresh.has(b)) && intoChannelsLast(shape, a, so, ss, b, dO, ds)) {
        return;
      }
      plain(b);
      if (nhwcDims(a) && channelsLastCopy(shape, a, so, ss, b, dO, ds)) return;
      plain(a);
      if (shape.length === 0 || (n < 4096 && sameType(a, b) && !isBf16(a))) {
        return base.copy(shape, src, so, ss, dst, dO, ds);
      }
      const k = kernel(`copy ${shape} ${ss} ${ds} ${dtOf(a)} ${dtOf(b)}`, () => {
        const ma = d.md(shape, ss, dtOf(a)), mb = d.md(shape, ds, dtOf(b));
        return build(d.reorder(ma, mb), [[arg.src, ma], [arg.dst, mb]]);
      });
      run(k, [[a, so], [b, dO]]);
    },

    // Elementwise maps see one flat array, so they run on channels-last buffers as they are
    // (every operand in the same layout) and their outputs keep the layout.
    unary(op, x, y, a, b) {
      const n = f(y).length, dims = nhwcDims(f(x));
      if (n < 1024 || !sameType(f(x), f(y))) return base32.unary(op, x, y, a, b);
      run(eltwiseKernel(op, n, a, b, false, dtOf(f(y))), [f(x), f(y)]);
      if (dims) markNhwc(f(y), dims);
      else unmark(f(y));
    },
    unaryBackward(op, x, y, g, dx, a, b) {
      const n = f(dx).length;
      const from = eltwise(op, a, b, true)[3];
      const src = from === "dst" ? f(y) : f(x);
      if (n < 1024 || !sameType(src, f(g), f(dx))) {
        return base32.unaryBackward(op, x, y, g, dx, a, b);
      }
      const dims = nhwcDims(src) ?? nhwcDims(f(g));
      const [s1, g1] = dims ? [nhwcOf(src, dims, dtOf(src)), nhwcOf(f(g), dims, dtOf(f(g)))] : [
        src,
        f(g),
      ];
      run(eltwiseKernel(op, n, a, b, true, dtOf(f(dx))), [s1, g1, f(dx)]);
      if (dims) markNhwc(f(dx), dims);
      else unmark(f(dx));
      if (s1 !== src) release(s1);
      if (g1 !== f(g)) release(g1);
    },

    binary(op, shape, a, as, b, bs, out) {
      const n = sizeOf(shape);
      if (n === 0) return;
      if (nhwcDims(f(a)) || nhwcDims(f(b))) {
        if (channelsLastBinary(op, shape, f(a), as, f(b), bs, f(out))) return;
        plain(f(a), f(b));
      }
      unmark(f(out));
      // oneDNN broadcasts only its second operand: swap commutative ops, else fall back.
      const aFull = shape.every((dim, i) => dim === 1 || as[i] !== 0);
      const bFull = shape.every((dim, i) => dim === 1 || bs[i] !== 0);
      let [p, ps, q, qs, o] = [a, as, b, bs, op];
      if (!aFull && bFull && (op === "add" || op === "mul")) [p, ps, q, qs] = [b, bs, a, as];
      else if (!aFull) return base32.binary(op, shape, a, as, b, bs, out);
      if (n < 1024 || shape.length === 0) return base32.binary(op, shape, a, as, b, bs, out);
      // oneDNN's fast kernels broadcast per channel (axis 1): a coalesced [C, X] with a
      // [C, 1] operand becomes [1, C, X].
      const lead = shape[0] > 1 && qs[0] !== 0 ? 1 : 0;
      const dims = lead ? [1, ...shape] : [...shape];
      const pStr = lead ? [0, ...ps] : [...ps], qStr = lead ? [0, ...qs] : [...qs];
      const qDims = dims.map((dim, i) => (qStr[i] === 0 ? 1 : dim));
      const types = [f(p), f(q), f(out)].map(dtOf);
      const k = kernel(`binary ${o} ${shape} ${ps} ${qs} ${types}`, () => {
        const m0 = d.md(dims, denseOnes(dims, pStr), types[0]);
        const m1 = d.md(qDims, denseOnes(qDims, qStr), types[1]);
        const md = d.md(dims, undefined, types[2]);
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

    // A matmul with ones where the axes allow. Else a sum over h and w (and n) of a
    // channels-last [n, c, h, w] is the same sum over [n, h, w, c], kept axes in order.
    reduceSum(x, shape, reduce, out) {
      if (sizeOf(shape) >= 4096 && onesMatmulSum(shape, reduce, f(x), f(out))) return;
      const dims = nhwcDims(f(x));
      if (
        dims && shape.length === 4 && shape.join() === dims.join() &&
        (reduce[1] || (reduce[2] && reduce[3]))
      ) {
        const [n, c, h, w] = shape, [rn, rc, rh, rw] = reduce;
        unmark(f(out));
        return reduceSum32(x, [n, h, w, c], [rn, rh, rw, rc], out);
      }
      base32.reduceSum(x, shape, reduce, out);
    },

    gemm(p) {
      const { transA, transB, m, n, k, batch, alpha, beta, a, b, c } = p;
      plain(f(a.buf), f(b.buf), f(c.buf));
      if (alpha !== 1 || beta !== 0 || m === 0 || n === 0) return gemm32(p);
      const dims = (shared: boolean) => (shared ? 1 : batch);
      // bf16 compute when any operand is bf16; an fp32 input is then rounded into a dense
      // bf16 temporary first (oneDNN's bf16 matmul takes bf16 sources only).
      const low = [a, b, c].some((o) => isBf16(o.buf));
      const ta = dtOf(f(a.buf)), tb = dtOf(f(b.buf)), tc = dtOf(f(c.buf));
      const kern = kernel(
        `matmul ${
          JSON.stringify({ ...p, a: { ...a, buf: ta }, b: { ...b, buf: tb }, c: { ...c, buf: tc } })
        } ${low}`,
        () => {
          const dA = [dims(a.stride === 0), m, k], dB = [dims(b.stride === 0), k, n];
          const mA = d.md(dA, [a.stride || m * k, transA ? 1 : a.ld, transA ? a.ld : 1], ta);
          const mB = d.md(dB, [b.stride || k * n, transB ? 1 : b.ld, transB ? b.ld : 1], tb);
          const mC = d.md([batch, m, n], [c.stride, c.ld, 1], tc);
          const lowered = (md: MemoryDesc, dt: DataType, dims: number[]) =>
            low && dt !== dataType.bf16 ? d.md(dims, undefined, dataType.bf16) : md;
          const sA = lowered(mA, ta, dA), sB = lowered(mB, tb, dB);
          return Object.assign(matmulOf(sA, sB, mC), { mA, mB, sA, sB });
        },
      ) as Kernel & Record<"mA" | "mB" | "sA" | "sB", MemoryDesc>;
      const inA = operand(a, kern.mA, kern.sA), inB = operand(b, kern.mB, kern.sB);
      run(kern, [inA, inB, [f(c.buf), c.off]]);
      for (const t of [inA, inB]) if (!Array.isArray(t)) release(t);
    },

    softmax(x, y, rows, cols) {
      plain(f(x), f(y));
      if (!sameType(f(x), f(y))) return base32.softmax(x, y, rows, cols);
      const dt = dtOf(f(x));
      const k = kernel(`softmax ${rows} ${cols} ${dt}`, () => {
        const md = d.md([rows, cols], undefined, dt);
        return build(softmaxForward(md), [[arg.src, md], [arg.dst, md]]);
      });
      run(k, [f(x), f(y)]);
    },
    softmaxBackward(y, g, dx, rows, cols) {
      plain(f(y), f(g), f(dx));
      if (!sameType(f(y), f(g), f(dx))) return base32.softmaxBackward(y, g, dx, rows, cols);
      const dt = dtOf(f(y));
      const k = kernel(`softmax bwd ${rows} ${cols} ${dt}`, () => {
        const md = d.md([rows, cols], undefined, dt);
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
    // is dense: [n, hw, c], which a channels-last buffer already is. A plain one is
    // transposed into an fp32 temporary and back (two fast reorders beat the reference
    // kernel on the strided layout by 20×). Either way the statistics are fp32. `rstd`
    // carries oneDNN's variance between forward and backward (it is backend-private).
    // Bias-free: TypeScript.
    layerNorm(geo, x, w, b, y, mean, rstd) {
      // Bias-free, or (in tests only) bf16 parameters: the TypeScript kernel.
      if (!b || isBf16(w) || isBf16(b)) return base32.layerNorm(geo, x, w, b, y, mean, rstd);
      const dims = lnDims(geo, f(x));
      if (dims && sameType(f(x), f(y))) {
        lnNhwc(geo, f(x), f(y), (dt, xt, yt) => {
          run(layerNormKernel(geo, false, dt), [xt, yt, f(w), f(b), f(mean), f(rstd)]);
        });
        return markNhwc(f(y), dims);
      }
      plain(f(x));
      unmark(f(y));
      const t = transposed(geo), xt = t.into(f(x)), yt = tmp(4 * f(x).length);
      run(layerNormKernel(geo, false, dataType.f32), [xt, yt, f(w), f(b), f(mean), f(rstd)]);
      t.back(yt, f(y));
      release(xt);
    },
    layerNormBackward(geo, x, w, mean, rstd, g, dx, dw, db) {
      if (!db || [w, dw, db].some(isBf16)) {
        return base32.layerNormBackward(geo, x, w, mean, rstd, g, dx, dw, db);
      }
      const dims = lnDims(geo, f(x));
      // The primitive lists the shift among its inputs but never reads it: w stands in.
      const params = [f(w), f(w), f(mean), f(rstd), f(dw), f(db)];
      if (dims && sameType(f(x), f(dx))) {
        lnNhwc(geo, f(x), f(dx), (dt, xt, dxt) => {
          const gt = nhwcOf(f(g), dims, dt);
          run(layerNormKernel(geo, true, dt), [xt, gt, dxt, ...params]);
          if (gt !== f(g)) release(gt);
        });
        markNhwc(f(dx), dims);
        return;
      }
      plain(f(x), f(g));
      unmark(f(dx));
      const t = transposed(geo), xt = t.into(f(x)), gt = t.into(f(g));
      const dxt = tmp(4 * f(x).length);
      run(layerNormKernel(geo, true, dataType.f32), [xt, gt, dxt, ...params]);
      t.back(dxt, f(dx));
      release(xt);
      release(gt);
    },

    conv2d: conv.conv2d,
    conv2dBackwardData: conv.conv2dBackwardData,
    conv2dBackwardFilter: conv.conv2dBackwardFilter,

    // Average pooling keeps a channels-last input's layout (oneDNN pools nhwc directly).
    avgPool2d(geo, x, y) {
      if (!sameType(f(x), f(y))) return base32.avgPool2d(geo, x, y);
      const dims = nhwcDims(f(x)), nc = dims && dims[0] * dims[1] === geo.planes ? dims : null;
      if (!nc) plain(f(x));
      run(poolKernel("avg", geo, false, dtOf(f(x)), nc), [f(x), f(y)]);
      if (nc) markNhwc(f(y), [nc[0], nc[1], geo.oh, geo.ow]);
      else unmark(f(y));
    },
    avgPool2dBackward(geo, g, dx) {
      if (!sameType(f(g), f(dx))) return base32.avgPool2dBackward(geo, g, dx);
      const dims = nhwcDims(f(g)), nc = dims && dims[0] * dims[1] === geo.planes ? dims : null;
      if (!nc) plain(f(g));
      run(poolKernel("avg", geo, true, dtOf(f(g)), nc), [f(g), f(dx)]);
      if (nc) markNhwc(f(dx), [nc[0], nc[1], geo.h, geo.w]);
      else unmark(f(dx));
    },
    // oneDNN's workspace (the winners) lives in the argmax buffer between the passes, so
    // both passes run in oneDNN, on a source converted to the output's dtype if need be.
    maxPool2d(geo, x, y, argmax) {
      plain(f(x), f(y), f(argmax));
      const xs = as(f(x), f(y));
      run(poolKernel("max", geo, false, dtOf(f(y))), [xs, f(y), f(argmax)]);
      if (xs !== f(x)) release(xs);
    },
    maxPool2dBackward(geo, g, argmax, dx) {
      plain(f(g), f(dx));
      const gs = as(f(g), f(dx));
      run(poolKernel("max", geo, true, dtOf(f(dx))), [gs, f(argmax), f(dx)]);
      if (gs !== f(g)) release(gs);
    },
    // Resizing runs forward in oneDNN, in either layout and dtype, 7–10× faster than the
    // TypeScript kernels, where it is F.interpolate's (oneDNN's linear is align_corners=False;
    // its nearest rounds where PyTorch floors, the same at power-of-two upscales). oneDNN's
    // backward is slower than ours (2–3× in bf16): a bilinear gradient is two matmuls
    // (resampleAdjoint), and the rest stays on the TypeScript kernels, which resize
    // channels-last images as they lie.
    resample(geo, x, y) {
      const nc = resampleLayout(geo, f(x), geo.h);
      if (oneDnnResamples(geo) && sameType(f(x), f(y))) {
        if (!nc) plain(f(x));
        run(resampleKernel(geo, dtOf(f(x)), nc), [f(x), f(y)]);
        if (nc) markNhwc(f(y), [nc[0], nc[1], geo.oh, geo.ow]);
        else unmark(f(y));
        return;
      }
      if (!nc) return base32.resample(geo, x, y);
      const p = [...resampleParams({ ...geo, planes: nc[0] }), nc[1]];
      widened(
        (a: Buf, b: Buf) =>
          parallel("resampleNhwc", nc[0] * geo.oh, [f(a), f(b)] as Float32Array[], p, f(b).length),
        [1],
      )(f(x), f(y));
      markNhwc(f(y), [nc[0], nc[1], geo.oh, geo.ow]);
    },
    resampleBackward(geo, g, dx) {
      const nc = resampleLayout(geo, f(g), geo.oh);
      if (geo.mode === "bilinear" && geo.planes && geo.ow <= 256 && sameType(f(g), f(dx))) {
        if (!nc) plain(f(g));
        return resampleAdjoint(geo, nc, f(g), f(dx));
      }
      if (!nc) return base32.resampleBackward(geo, g, dx);
      const p = [...resampleParams({ ...geo, planes: nc[0] }), nc[1]];
      widened(
        (a: Buf, b: Buf) =>
          parallel("resampleNhwcBackward", nc[0], [f(a), f(b)] as Float32Array[], p, f(a).length),
        [1],
      )(f(g), f(dx));
      markNhwc(f(dx), [nc[0], nc[1], geo.h, geo.w]);
    },
  };

  // The base kernels, on plain buffers and taking bf16 ones through fp32 temporaries; each
  // list names the arguments a kernel writes.
  const reduceSum32 = widened(base.reduceSum, [3]);
  const base32 = {
    unary: onPlain(widened(base.unary, [2])),
    unaryBackward: onPlain(widened(base.unaryBackward, [4])),
    binary: onPlain(widened(base.binary, [6])),
    reduceSum: onPlain(reduceSum32),
    softmax: onPlain(widened(base.softmax, [1])),
    softmaxBackward: onPlain(widened(base.softmaxBackward, [2])),
    layerNorm: onPlain(widened(base.layerNorm, [4, 5, 6])),
    layerNormBackward: onPlain(widened(base.layerNormBackward, [6, 7, 8])),
    avgPool2d: onPlain(widened(base.avgPool2d, [2])),
    avgPool2dBackward: onPlain(widened(base.avgPool2dBackward, [2])),
    resample: onPlain(widened(base.resample, [2])),
    resampleBackward: onPlain(widened(base.resampleBackward, [2])),
  };

  /**
   * A sum as a oneDNN matmul with a vector of ones: the axes, as laid out (channels-last
   * where x is) and merged, must be [K], [M, K], [K, M] or [B, K, M] with K summed; false
   * for other patterns. oneDNN's reduction primitive runs the channels-last case as a
   * reference loop (40× slower); the TypeScript kernel widens bf16 first and, in inference,
   * took 8% of a 512×384 paper-literal run. It accumulates in fp32, not float64: the worst
   * relative error of a 196,608-long sum of uniform values measured 6.7e-7 (3.7e-8).
   */
  function onesMatmulSum(shape: readonly number[], reduce: readonly boolean[], x: Buf, out: Buf) {
    const dims = nhwcDims(x);
    const cl = dims !== undefined && shape.length === 4 && shape.join() === dims.join();
    const [sh, red] = cl
      ? [[0, 2, 3, 1].map((i) => shape[i]), [0, 2, 3, 1].map((i) => reduce[i])]
      : [shape, reduce];
    const plan = reducePlan(sh, red);
    const pattern = plan.red.map((r) => (r ? "K" : "M")).join("");
    // oneDNN's matmul writes bf16 only from bf16 operands.
    if (!["K", "MK", "KM", "MKM"].includes(pattern) || (isBf16(out) && !isBf16(x))) return false;
    if (!cl) plain(x);
    unmark(out);
    const [p, q] = plan.dims;
    const [b, k, m] = { K: [1, p, 1], MK: [1, q, p], KM: [1, p, q], MKM: plan.dims }[pattern]!;
    const types = [dtOf(x), dtOf(out)];
    const kern = kernel(`sum ${pattern} ${b} ${k} ${m} ${types}`, () =>
      pattern === "MK"
        ? matmulOf(
          d.md([m, k], undefined, types[0]),
          d.md([k, 1], undefined, types[0]),
          d.md([m, 1], undefined, types[1]),
        )
        : matmulOf(
          d.md([1, 1, k], undefined, types[0]),
          d.md([b, k, m], undefined, types[0]),
          d.md([b, 1, m], undefined, types[1]),
        ));
    const one = constant(`ones ${k}`, types[0], () => new Float32Array(k).fill(1));
    run(kern, pattern === "MK" ? [x, one, out] : [one, x, out]);
    return true;
  }

  /** values() in type dt, made once per key and kept for the backend's life. */
  function constant(key: string, dt: DataType, values: () => Float32Array): Buf {
    const k = `${key} ${dt}`;
    let b = constants.get(k);
    if (!b) {
      const v = values();
      constants.set(k, b = temporary(v.length, dt));
      convert(v, b);
    }
    return b;
  }
  const constants = new Map<string, Buf>();

  /** fn on its buffer arguments put back in plain order (outputs unmarked). */
  function onPlain<A extends unknown[]>(fn: (...a: A) => void) {
    return (...a: A): void => {
      for (const v of a) if (v instanceof Float32Array || v instanceof Uint16Array) plain(v);
      fn(...a);
    };
  }

  /**
   * A copy out of a channels-last buffer, read where it lies: the copy must take a box of
   * its [n, c, h, w] (a slice, a whole tensor) to a plain destination (a concat's window).
   * A box copied to a whole tensor of its size is written channels-last too (a slice, a
   * dtype conversion), so that a concat's gradient parts reach their convs as they want
   * them; false when the copy is no box, and the caller goes plain.
   */
  function channelsLastCopy(
    shape: readonly number[],
    a: Buf,
    so: number,
    ss: readonly number[],
    b: Buf,
    dO: number,
    ds: readonly number[],
  ): boolean {
    const dims = nhwcDims(a)!;
    const box = boxOf(shape, ss, so, dims);
    const over = box && stridesOver(shape, ds, box);
    if (!box || !over) return false;
    const [, c, h, w] = dims, { origin, ext } = box;
    const [en, ec, eh, ew] = ext;
    const whole = b.length === en * ec * eh * ew && dO === 0 &&
      denseOnes(ext, over).join() === [ec * eh * ew, eh * ew, ew, 1].join();
    // The box within the whole channels-last tensor: its strides, and its origin's offset.
    const srcStrides = [c * h * w, 1, w * c, c];
    const srcOff = origin.reduce((acc, o, k) => acc + o * srcStrides[k], 0);
    const dstStrides = whole ? [ec * eh * ew, 1, ew * ec, ec] : denseOnes(ext, over);
    const k = kernel(`copy nhwc ${ext} ${srcStrides} ${dstStrides} ${dtOf(a)} ${dtOf(b)}`, () => {
      const ma = d.md(ext, srcStrides, dtOf(a)), mb = d.md(ext, dstStrides, dtOf(b));
      return build(d.reorder(ma, mb), [[arg.src, ma], [arg.dst, mb]]);
    });
    run(k, [[a, srcOff], [b, dO]]);
    if (whole) markNhwc(b, ext);
    return true;
  }

  /**
   * A copy into a channels-last buffer, written where it lies: into one already marked, or
   * into a fresh one that a channels-last source fills a channel window of (a concat's
   * part), which then takes the layout (the concat's other parts follow it). False when the
   * copy is no box of the destination, and the caller goes plain.
   */
  function intoChannelsLast(
    shape: readonly number[],
    a: Buf,
    so: number,
    ss: readonly number[],
    b: Buf,
    dO: number,
    ds: readonly number[],
  ): boolean {
    const from = nhwcDims(a);
    let dims = nhwcDims(b);
    if (!dims) {
      const whole = from && boxOf(shape, ss, so, from);
      if (!from || !whole || whole.ext.join() !== from.join()) return false;
      const over = stridesOver(shape, ds, whole);
      const [n, c, h, w] = from, plane = h * w;
      if (!over || over[1] !== plane || over[2] !== w || over[3] !== 1) return false;
      // A single image's copy coalesces to one run: the batch stride is then the whole.
      const total = n === 1 ? b.length / plane : over[0] / plane;
      if (!Number.isInteger(total) || b.length !== n * total * plane) return false;
      if (dO % plane !== 0 || dO / plane + c > total) return false;
      markNhwc(b, dims = [n, total, h, w]);
      if (!nhwcDims(b)) return false;
    }
    const box = boxOf(shape, ds, dO, dims);
    if (!box) return false;
    const last = (ds: readonly number[]) => [ds[1] * ds[2] * ds[3], 1, ds[3] * ds[1], ds[1]];
    const at = (o: number[], st: number[]) => o.reduce((acc, v, k) => acc + v * st[k], 0);
    let srcStrides: number[], srcOff = so;
    if (from) {
      const sbox = boxOf(shape, ss, so, from);
      if (!sbox || sbox.ext.join() !== box.ext.join()) return false;
      srcStrides = last(from);
      srcOff = at(sbox.origin, srcStrides);
    } else {
      const over = stridesOver(shape, ss, box);
      if (!over) return false;
      srcStrides = denseOnes(box.ext, over);
    }
    const dstStrides = last(dims), ext = box.ext;
    const k = kernel(
      `copy into nhwc ${ext} ${srcStrides} ${dstStrides} ${dtOf(a)} ${dtOf(b)}`,
      () => {
        const ma = d.md(ext, srcStrides, dtOf(a)), mb = d.md(ext, dstStrides, dtOf(b));
        return build(d.reorder(ma, mb), [[arg.src, ma], [arg.dst, mb]]);
      },
    );
    run(k, [[a, srcOff], [b, at(box.origin, dstStrides)]]);
    return true;
  }

  /**
   * Whether layer norm on x runs in fp32 (a conversion each way): oneDNN 2.6.3's bf16 kernel
   * leaves its vector path when c is not a multiple of 16 (c = 60: 37 ms per million values
   * against 0.35 in fp32; 24 and 120 alike; 16, 32, 48, 64, 240 as fast as fp32).
   */
  const lnInFp32 = (geo: { c: number }, x: Buf) => isBf16(x) && geo.c % 16 !== 0;

  /**
   * Runs `kernel` on channels-last x and its output `out` in their dtype, or, where
   * lnInFp32, on fp32 copies of both (the output converted back).
   */
  function lnNhwc(
    geo: { c: number },
    x: Buf,
    out: Buf,
    kernel: (dt: DataType, xt: Buf, outT: Buf) => void,
  ): void {
    if (!lnInFp32(geo, x)) return kernel(dtOf(x), x, out);
    const xt = widen(x), ot = tmp(4 * out.length);
    kernel(dataType.f32, xt, ot);
    convert(ot, out);
    [xt, ot].forEach(release);
  }

  /** The dims of x when it holds layer norm's [n, c, hw] channels-last, else null. */
  function lnDims(geo: { n: number; c: number; hw: number }, x: Buf) {
    const dims = nhwcDims(x);
    return dims && dims[0] === geo.n && dims[1] === geo.c && dims[2] * dims[3] === geo.hw
      ? dims
      : null;
  }

  /**
   * A binary op with a channels-last operand, run channels-last when the op maps onto its
   * [n, c, h, w] (full operands brought to nhwc, a broadcast one read as it is); false when
   * it does not, and the caller goes plain.
   */
  function channelsLastBinary(
    op: BinaryOp,
    shape: readonly number[],
    a: Buf,
    as: readonly number[],
    b: Buf,
    bs: readonly number[],
    out: Buf,
  ): boolean {
    const dims = (nhwcDims(a) ?? nhwcDims(b))!;
    const sa = strides4(shape, as, dims), sb = strides4(shape, bs, dims);
    if (!sa || !sb || !sameType(a, b, out)) return false;
    const full = (st: number[]) => st.every((v, i) => v !== 0 || dims[i] === 1);
    let [p, ps, q, qs] = [a, sa, b, sb];
    if (!full(ps) && (op === "add" || op === "mul")) [p, ps, q, qs] = [b, sb, a, sa];
    if (!full(ps)) return false;
    if (!full(qs) && nhwcDims(q)) return false; // a channels-last operand that broadcasts
    const dt = dtOf(out);
    const pn = nhwcOf(p, dims, dt), qn = full(qs) ? nhwcOf(q, dims, dt) : q;
    // oneDNN's fast kernels broadcast per channel: an operand that varies with n as well
    // ([n, c, 1, 1]) is applied one image at a time.
    const perImage = !full(qs) && qs[0] !== 0 && dims[0] > 1;
    const d1 = perImage ? [1, ...dims.slice(1)] : dims;
    const qDims = d1.map((dim, i) => (qs[i] === 0 ? 1 : dim));
    const k = kernel(`binary nhwc ${op} ${d1} ${qs} ${dt}`, () => {
      const m0 = nhwcMd(d1, dt), md = nhwcMd(d1, dt);
      const m1 = full(qs) ? nhwcMd(d1, dt) : d.md(qDims, denseOnes(qDims, qs), dt);
      const algo =
        { add: alg.binaryAdd, sub: alg.binarySub, mul: alg.binaryMul, div: alg.binaryDiv }[op];
      const prim = d.primitive(
        "dnnl_binary_desc_init",
        SIZES.binary,
        (desc) => s.dnnl_binary_desc_init(desc, algo, m0, m1, md),
      );
      return build(prim, [[arg.src, m0], [arg.src1, m1], [arg.dst, md]]);
    });
    // Swapped operands of a commutative op, or in order: the kernel computes p op q.
    if (!perImage) run(k, [pn, qn, out]);
    else {
      const image = dims[1] * dims[2] * dims[3];
      for (let i = 0; i < dims[0]; i++) {
        run(k, [[pn, i * image], [qn, i * qs[0]], [out, i * image]]);
      }
    }
    markNhwc(out, dims);
    if (pn !== p) release(pn);
    if (qn !== q) release(qn);
    return true;
  }

  /** [n, hw, c] of either dtype ↔ fp32 [n, hw, c] through pooled temporaries. */
  function transposed({ n, c, hw }: { n: number; c: number; hw: number }) {
    const planar = (b: Buf) => d.md([n, hw, c], [c * hw, 1, hw], dtOf(b));
    const last = d.md([n, hw, c]);
    const key = `${n} ${c} ${hw}`;
    return {
      into(buf: Buf): Float32Array {
        const t = tmp(4 * buf.length);
        reorderTo(planar(buf), last, `to channels-last ${key} ${dtOf(buf)}`, buf, t);
        return t;
      },
      back(t: Float32Array, buf: Buf): void {
        reorderTo(last, planar(buf), `from channels-last ${key} ${dtOf(buf)}`, t, buf);
        release(t);
      },
    };
  }

  /** b itself when it has like's dtype, else a temporary holding it converted (release it). */
  function as(b: Buf, like: Buf): Buf {
    if (sameType(b, like)) return b;
    const t = temporary(b.length, dtOf(like));
    convert(b, t);
    return t;
  }

  /** What a matmul reads for operand o: its buffer, or its values rounded into a bf16
   * temporary laid out as `want` (to release). */
  function operand(o: GemmOperand, have: MemoryDesc, want: MemoryDesc): Buf | [Buf, number] {
    if (have === want) return [f(o.buf), o.off];
    const t = tmp(d.mdSize(want));
    const k = lowering.get(want) ??
      lowering.set(want, build(d.reorder(have, want), [[arg.src, have], [arg.dst, want]]))
        .get(want)!;
    run(k, [[f(o.buf), o.off], t]);
    return t;
  }
  const lowering = new Map<MemoryDesc, Kernel>();

  /** Layer norm over the dense last axis of [n, hw, c] in dt (statistics fp32). */
  function layerNormKernel(
    geo: { n: number; c: number; hw: number; eps: number },
    backward: boolean,
    dt: DataType,
  ): Kernel {
    const { n, c, hw, eps } = geo;
    return kernel(`lnorm ${backward} ${n} ${c} ${hw} ${eps} ${dt}`, () => {
      const data = d.md([n, hw, c], undefined, dt);
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
    dt: DataType,
    nc: readonly number[] | null = null,
  ): Kernel {
    return kernel(`pool ${kind} ${backward} ${JSON.stringify(g)} ${dt} ${nc}`, () => {
      // Plain: the n·c planes as channels of one image; channels-last: [n, c, h, w] in nhwc.
      const [src, dst] = nc
        ? [nhwcMd([nc[0], nc[1], g.h, g.w], dt), nhwcMd([nc[0], nc[1], g.oh, g.ow], dt)]
        : [
          d.md([1, g.planes, g.h, g.w], undefined, dt),
          d.md([1, g.planes, g.oh, g.ow], undefined, dt),
        ];
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

  /** Whether oneDNN's resampling computes F.interpolate's result for geo. */
  function oneDnnResamples(geo: ResampleGeometry): boolean {
    if (!geo.planes) return false;
    // PyTorch's nearest floors dst × (in/out) in float32, exact only for powers of two.
    const pow2 = (o: number, i: number) => o % i === 0 && ((o / i) & (o / i - 1)) === 0;
    return geo.mode === "bilinear" || (pow2(geo.oh, geo.h) && pow2(geo.ow, geo.w));
  }

  /**
   * The gradient of a bilinear resize, dy [planes, oh, ow] → dx [planes, h, w]: the resize is
   * separable, y = Ry · x · Rxᵀ per plane with Ry [oh × h] and Rx [ow × w] its interpolation
   * matrices (two taps a row), so dx = Ryᵀ · dy · Rx, two matmuls in oneDNN in dy's dtype (fp32
   * accumulation). Channels-last, [n, oh, ow, c]: t[n·oh] (w × c) = Rxᵀ · dy[n·oh] (ow × c),
   * then dx[n] (h × w·c) = Ryᵀ · t[n] (oh × w·c); plain: t (planes·oh × w) = dy · Rx, then
   * dx[p] (h × w) = Ryᵀ · t[p] (oh × w). The matrices are dense, w and h multiply-adds per
   * element where two would do, which the matmuls' speed repays up to a few hundred pixels
   * (callers keep ow ≤ 256): for 8×32×64² → 128² channels-last it takes 1.3 ms in bf16 and
   * 1.6 ms in fp32, the TypeScript kernel 6.4 and 15 ms (2 threads).
   */
  function resampleAdjoint(
    geo: ResampleGeometry,
    nc: readonly number[] | null,
    g: Buf,
    dx: Buf,
  ): void {
    const { planes, h, w, oh, ow } = geo, dt = dtOf(g);
    const [n, c] = nc ?? [planes, 1];
    const t = temporary(n * oh * w * c, dt);
    const rx = constant(`bilinear ${w} ${ow}`, dt, () => interpolation(w, ow));
    const ry = constant(`bilinear ${h} ${oh}`, dt, () => interpolation(h, oh));
    const key = `${JSON.stringify(geo)} ${nc} ${dt}`;
    const across = kernel(`resample adjoint x ${key}`, () =>
      nc
        ? matmulOf(
          d.md([1, w, ow], [w * ow, 1, w], dt),
          d.md([n * oh, ow, c], [ow * c, c, 1], dt),
          d.md([n * oh, w, c], [w * c, c, 1], dt),
        )
        : matmulOf(
          d.md([1, planes * oh, ow], undefined, dt),
          d.md([1, ow, w], undefined, dt),
          d.md([1, planes * oh, w], undefined, dt),
        ));
    run(across, nc ? [rx, g, t] : [g, rx, t]);
    const down = kernel(`resample adjoint y ${key}`, () =>
      matmulOf(
        d.md([1, h, oh], [h * oh, 1, h], dt),
        d.md([n, oh, w * c], [oh * w * c, w * c, 1], dt),
        d.md([n, h, w * c], [h * w * c, w * c, 1], dt),
      ));
    run(down, [ry, t, dx]);
    release(t);
    if (nc) markNhwc(dx, [n, c, h, w]);
    else unmark(dx);
  }

  /** A matmul dst = src · weights (batched, the weights' batch of 1 broadcast). */
  function matmulOf(src: MemoryDesc, weights: MemoryDesc, dst: MemoryDesc): Kernel {
    const p = d.primitive(
      "dnnl_matmul_desc_init",
      SIZES.matmul,
      (desc) => s.dnnl_matmul_desc_init(desc, src, weights, null, dst),
    );
    return build(p, [[arg.src, src], [arg.weights, weights], [arg.dst, dst]]);
  }

  /** Bilinear interpolation matrix R [outSize × inSize]. */
  function interpolation(inSize: number, outSize: number): Float32Array {
    const { i0, i1, l1 } = taps("bilinear", inSize, outSize);
    const r = new Float32Array(outSize * inSize);
    for (let o = 0; o < outSize; o++) {
      r[o * inSize + i0[o]] += 1 - l1[o];
      r[o * inSize + i1[o]] += l1[o];
    }
    return r;
  }

  /** [n, c] of a channels-last buffer holding geo's planes at height h, else null. */
  function resampleLayout(geo: ResampleGeometry, b: Buf, h: number): readonly number[] | null {
    const dims = nhwcDims(b);
    return dims && dims[0] * dims[1] === geo.planes && dims[2] === h ? dims : null;
  }

  // x [planes, h, w] → y [planes, oh, ow]; plain: the planes as channels of one image.
  function resampleKernel(g: ResampleGeometry, dt: DataType, nc: readonly number[] | null): Kernel {
    return kernel(`resample ${JSON.stringify(g)} ${dt} ${nc}`, () => {
      const [src, dst] = nc
        ? [nhwcMd([nc[0], nc[1], g.h, g.w], dt), nhwcMd([nc[0], nc[1], g.oh, g.ow], dt)]
        : [
          d.md([1, g.planes, g.h, g.w], undefined, dt),
          d.md([1, g.planes, g.oh, g.ow], undefined, dt),
        ];
      const fwd = d.primitive(
        "dnnl_resampling_forward_desc_init",
        SIZES.resampling,
        (desc) =>
          s.dnnl_resampling_forward_desc_init(
            desc,
            prop.forwardTraining,
            g.mode === "bilinear" ? alg.resamplingLinear : alg.resamplingNearest,
            null,
            src,
            dst,
          ),
      );
      return build(fwd, [[arg.src, src], [arg.dst, dst]]);
    });
  }

  return backend;
}
