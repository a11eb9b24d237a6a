// Convolutions on oneDNN: forward, backward-data and backward-weights (grouped and
// depthwise too), with bias and activation fused into the forward as a post-op, and the
// bias gradient computed by backward-weights in the same pass. Activations are channels-last
// (nhwc, dnnl_kernels.ts): a pass reads an input that is already nhwc as it is (a plain one
// is reordered into a temporary) and writes its output nhwc straight into the output buffer.
// By measurement (CPU time per call, 2 threads): nhwc runs 3×3, 1×1 and depthwise convs
// within 10% of oneDNN's blocked layouts (1×1 at twice the speed of the GEMM per image on
// NCHW we used before), and unlike the blocked layouts it needs no channel padding, so every
// output can stay in its tensor's buffer. The weights go in oneDNN's choice of layout
// ("any"), each reordered once per write: its reorder is cached on the weight's buffer until
// `dirty` says the buffer changed (Adam, an upload, a free) — ops never write into an
// existing tensor otherwise. A pass computes in bf16 (fp32 accumulation) when one of its
// activation buffers is bf16: its sources are rounded to bf16 where they are not already,
// the weights' bf16 copy is cached as the fp32 one is, and each output is written in its
// own buffer's dtype (the weight and bias gradients fp32, so the optimiser sees fp32).

import {
  alg,
  arg,
  type DataType,
  dataType,
  dimsOf,
  type MemoryDesc,
  type Primitive,
  prop,
  query,
  SIZES,
} from "../../native/dnnl.ts";
import type { Activation, Backend, Conv2dGeometry, DeviceBuffer } from "../backend.ts";
import { type Buf, type DnnlContext, dtOf, f, type Kernel } from "./dnnl_kernels.ts";

const isBf16 = (b: DeviceBuffer) => b instanceof Uint16Array;

const activationPostOp = (act: Activation): [number, number, number] =>
  act.op === "sigmoid"
    ? [alg.eltwiseLogistic, 0, 0]
    : [alg.eltwiseRelu, act.op === "leakyRelu" ? act.slope ?? 0 : 0, 0];

export function dnnlConv(
  ctx: DnnlContext,
): Pick<Backend, "conv2d" | "conv2dBackwardData" | "conv2dBackwardFilter"> & {
  dirty: (buf: DeviceBuffer) => void;
} {
  const { d, s, build, run, tmp, release, reorderTo, widen, convert, nhwcMd, markNhwc } = ctx;
  // ---- Weight reorders, cached per buffer until it is written or freed ----
  const reordered = new WeakMap<Buf, Map<string, Float32Array>>();
  const dirty = (buf: DeviceBuffer) => reordered.delete(f(buf));

  function weightsIn(w: Buf, plain: MemoryDesc, want: MemoryDesc, key: string): Buf {
    ctx.plain(w); // weights that a conv wrote (never in a model, but allowed) are nhwc
    if (d.mdEqual(plain, want)) return w;
    let m = reordered.get(w);
    if (!m) reordered.set(w, m = new Map());
    let out = m.get(key);
    if (!out) {
      out = new Float32Array(Math.ceil(d.mdSize(want) / 4));
      reorderTo(plain, want, `w ${key}`, w, out);
      m.set(key, out);
    }
    return out;
  }

  // ---- Convolution ----
  const convDims = (g: Conv2dGeometry) => {
    const wDims = g.groups === 1
      ? [g.cout, g.cin, g.kh, g.kw]
      : [g.groups, g.cout / g.groups, g.cin / g.groups, g.kh, g.kw];
    return {
      x: [g.n, g.cin, g.h, g.w],
      w: wDims,
      y: [g.n, g.cout, g.oh, g.ow],
      strides: dimsOf([g.strideH, g.strideW]),
      dil: dimsOf([g.dilH - 1, g.dilW - 1]),
      pad: dimsOf([g.padH, g.padW]),
    };
  };

  interface ConvPlan {
    /** Names the plan, and so the weights' layout it chose (post-ops change that choice). */
    key: string;
    k: Kernel;
    /** The layouts the primitive takes for its activations (input and output side). */
    mdA: MemoryDesc;
    mdB: MemoryDesc;
    /** The weights' (or dw's) layout the primitive chose, and their plain one. */
    mdW: MemoryDesc;
    plainW: MemoryDesc;
  }

  /**
   * Element types of a pass: `c` its sources' (the compute type), `a` and `b` those of the
   * buffers on the input and output side (x or dx; y or g), `w` the weights' (or dw's).
   */
  interface Types {
    c: DataType;
    a: DataType;
    b: DataType;
    w: DataType;
  }

  /**
   * The primitive of one conv pass: activations nhwc, weights in oneDNN's choice ("any").
   * Backward passes take the forward-training descriptor as their hint; `bias` is the
   * forward's bias or the backward-weights' bias gradient, `act` the forward's activation and
   * `add` whether it adds a tensor of the output's shape (nhwc, the output's type) after it.
   * What a pass writes has its buffer's type; what it reads, the compute type.
   */
  function convPrimitive(
    pass: "fwd" | "bwdData" | "bwdWeights",
    g: Conv2dGeometry,
    bias: MemoryDesc | null,
    act: Activation | null,
    add: boolean,
    t: Types,
  ): Primitive {
    const c = convDims(g);
    const w = d.mdAny(c.w, pass === "bwdWeights" ? t.w : t.c);
    const [ta, tb] = pass === "fwd" ? [t.c, t.b] : pass === "bwdData" ? [t.a, t.c] : [t.c, t.c];
    // Backward-weights reads both activations and writes none: in fp32 it takes them in
    // oneDNN's blocked layout, reordered from nhwc, whose kernel is faster there (626 against
    // 825 ms of CPU per small training step, reorders included); in bf16 the reorders cost
    // more than the layout gains (the small step: 0.76 against 0.71 s with nhwc).
    const [x, y] = pass === "bwdWeights" && t.c === dataType.f32
      ? [d.mdAny(c.x, ta), d.mdAny(c.y, tb)]
      : [nhwcMd(c.x, ta), nhwcMd(c.y, tb)];
    const tail = [c.strides, c.dil, c.pad, c.pad] as const;
    if (pass === "fwd") {
      return d.primitive(
        "dnnl_dilated_convolution_forward_desc_init",
        SIZES.convolution,
        (desc) =>
          s.dnnl_dilated_convolution_forward_desc_init(
            desc,
            prop.forwardTraining,
            alg.convolutionDirect,
            x,
            w,
            bias,
            y,
            ...tail,
          ),
        [
          ...(act ? [{ eltwise: activationPostOp(act) }] : []),
          ...(add ? [{ binary: [alg.binaryAdd, y] as [number, MemoryDesc] }] : []),
        ],
      );
    }
    const hintKey = `${JSON.stringify(g)} ${bias !== null} ${t.c}`;
    let hint = hints.get(hintKey);
    if (!hint) {
      const all = { c: t.c, a: t.c, b: t.c, w: t.c };
      hints.set(hintKey, hint = convPrimitive("fwd", g, bias, null, false, all));
    }
    return pass === "bwdData"
      ? d.primitive(
        "dnnl_dilated_convolution_backward_data_desc_init",
        SIZES.convolution,
        (desc) =>
          s.dnnl_dilated_convolution_backward_data_desc_init(
            desc,
            alg.convolutionDirect,
            x,
            w,
            y,
            ...tail,
          ),
        [],
        hint,
      )
      : d.primitive(
        "dnnl_dilated_convolution_backward_weights_desc_init",
        SIZES.convolution,
        (desc) =>
          s.dnnl_dilated_convolution_backward_weights_desc_init(
            desc,
            alg.convolutionDirect,
            x,
            w,
            bias,
            y,
            ...tail,
          ),
        [],
        hint,
      );
  }

  function convPlan(
    pass: "fwd" | "bwdData" | "bwdWeights",
    g: Conv2dGeometry,
    bias: boolean,
    act: Activation | null,
    add: boolean,
    t: Types,
  ): ConvPlan {
    const key = `conv ${pass} ${JSON.stringify(g)} ${bias} ${
      act ? JSON.stringify(act) : ""
    } ${add} ${JSON.stringify(t)}`;
    let plan = convPlans.get(key);
    if (plan) return plan;
    const c = convDims(g);
    const mdBias = bias ? d.md([g.cout]) : null;
    const p = convPrimitive(pass, g, mdBias, act, add, t);
    const q = (w: number) => d.queryMd(p.pd, w)!;
    const [mdA, mdW, mdB] = pass === "fwd"
      ? [q(query.srcMd), q(query.weightsMd), q(query.dstMd)]
      : pass === "bwdData"
      ? [q(query.diffSrcMd), q(query.weightsMd), q(query.diffDstMd)]
      : [q(query.srcMd), q(query.diffWeightsMd), q(query.diffDstMd)];
    const argIds = pass === "fwd"
      ? [arg.src, arg.weights, arg.dst]
      : pass === "bwdData"
      ? [arg.diffSrc, arg.weights, arg.diffDst]
      : [arg.src, arg.diffWeights, arg.diffDst];
    const mds: [number, MemoryDesc][] = [[argIds[0], mdA], [argIds[1], mdW], [argIds[2], mdB]];
    if (mdBias) mds.push([pass === "fwd" ? arg.bias : arg.diffBias, mdBias]);
    if (add) mds.push([arg.postOp0Src1, mdB]);
    plan = { key, k: build(p, mds), mdA, mdB, mdW, plainW: d.md(c.w, undefined, t.w) };
    convPlans.set(key, plan);
    return plan;
  }
  const convPlans = new Map<string, ConvPlan>();
  /** The forward primitive descriptor each backward pass is built against, per geometry. */
  const hints = new Map<string, Primitive>();

  /** A pass's types: bf16 compute when any of its activation buffers is bf16. */
  function types(a: DeviceBuffer, b: DeviceBuffer, w: DeviceBuffer): Types {
    const [ta, tb] = [dtOf(f(a)), dtOf(f(b))];
    const c = ta === dataType.bf16 || tb === dataType.bf16 ? dataType.bf16 : dataType.f32;
    return { c, a: ta, b: tb, w: dtOf(f(w)) };
  }
  const keyOf = (geo: Conv2dGeometry, t: Types) => `${JSON.stringify(geo)} ${JSON.stringify(t)}`;
  /** Releases what nhwcOf made (a temporary, not the caller's buffer). */
  const done = (t: Buf, buf: DeviceBuffer) => t !== f(buf) && release(t);

  // The gradient's nhwc copy made for backward-data, kept for the backward-filter call that
  // follows it on the same gradient (ops/conv.ts makes the two in a row): one conversion
  // instead of two. Any other conv call, or a write or free of the gradient, drops it.
  let kept: { g: Buf; dt: DataType; ga: Buf } | null = null;
  const dropKept = () => {
    if (kept) release(kept.ga);
    kept = null;
  };
  const dirtyOrKept = (buf: DeviceBuffer) => {
    if (kept?.g === f(buf)) dropKept();
    dirty(buf);
  };

  return {
    dirty: dirtyOrKept,
    conv2d(geo, x, w, bias, y, act, add) {
      dropKept();
      const t = types(x, y, w), c = convDims(geo);
      const pl = convPlan("fwd", geo, bias !== null, act, add !== null, t);
      const xa = ctx.nhwcOf(f(x), c.x, t.c);
      const wa = weightsIn(f(w), pl.plainW, pl.mdW, pl.key);
      if (bias) ctx.plain(f(bias));
      const b = bias ? widen(f(bias)) : null; // fp32 (a bf16 bias, from tests only, widened)
      // The added tensor is read during the output's write-back, in the output's layout and type.
      const r = add ? ctx.nhwcOf(f(add), c.y, t.b) : null;
      run(pl.k, [xa, wa, f(y), ...(b ? [b] : []), ...(r ? [r] : [])]);
      markNhwc(f(y), c.y);
      if (b && b !== f(bias!)) release(b);
      done(xa, x);
      if (r) done(r, add!);
    },
    conv2dBackwardData(geo, g, w, dx) {
      dropKept();
      let t = types(dx, g, w);
      // oneDNN 2.6.3's bf16 1×1 backward-data (jit_bf16_1x1) is wrong for an odd number of
      // output channels at some sizes (measured: errors as large as the gradient at n·h·w of
      // 30, 60, 120 and 240 with 1, 3, 5 or 7 outputs; right at 1, 9, 16, 64, 4096, 16384):
      // those passes run in fp32, into a temporary rounded into dx.
      const odd = t.c === dataType.bf16 && geo.kh === 1 && geo.kw === 1 && geo.cout % 2 === 1;
      if (odd) t = { ...t, a: dataType.f32, b: dataType.f32, c: dataType.f32 };
      const c = convDims(geo);
      const pl = convPlan("bwdData", geo, false, null, false, t);
      const ga = ctx.nhwcOf(f(g), c.y, t.c);
      const wa = weightsIn(f(w), pl.plainW, pl.mdW, pl.key);
      const out = odd ? tmp(4 * f(dx).length) : f(dx);
      run(pl.k, [out, wa, ga]);
      if (out !== f(dx)) {
        convert(out, f(dx));
        release(out);
      }
      markNhwc(f(dx), c.x);
      if (ga !== f(g)) {
        if (odd) release(ga);
        else kept = { g: f(g), dt: t.c, ga };
      }
    },
    conv2dBackwardFilter(geo, x, g, dw, db) {
      const t = types(x, g, dw), key = keyOf(geo, t), c = convDims(geo);
      const pl = convPlan("bwdWeights", geo, db !== null, null, false, t);
      const xa = ctx.asLayout(f(x), c.x, pl.mdA);
      dropKept();
      const ga = ctx.asLayout(f(g), c.y, pl.mdB);
      const same = d.mdEqual(pl.plainW, pl.mdW);
      const dwa = same ? f(dw) : tmp(d.mdSize(pl.mdW));
      const dbf = db ? (isBf16(db) ? tmp(4 * f(db).length) : f(db)) : null; // fp32, as the bias
      run(pl.k, dbf ? [xa, dwa, ga, dbf] : [xa, dwa, ga]);
      if (dbf && dbf !== f(db!)) {
        convert(dbf, f(db!));
        release(dbf);
      }
      done(xa, x);
      done(ga, g);
      if (!same) {
        reorderTo(pl.mdW, pl.plainW, `bwdW dw ${key}`, dwa, f(dw));
        release(dwa);
      }
    },
  };
}
