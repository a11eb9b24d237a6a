// The CUDA backend: GEMMs through cuBLAS, convolutions through cuDNN, everything else as
// the NVRTC-compiled kernels of ops/cuda/kernels.ts, all on one stream. Buffers come from a
// caching allocator (freed buffers wait by size, so steady-state steps call no cuMemAlloc);
// the host waits only when a value is read. LFDIFF_TF32=1 lets cuBLAS and cuDNN use TF32.

import {
  type Backend,
  BINARY_OPS,
  type DeviceBuffer,
  type ResampleGeometry,
  UNARY_OPS,
} from "../backend.ts";
import { Cuda } from "../../native/cuda.ts";
import { Cublas } from "../../native/cublas.ts";
import { Cudnn } from "../../native/cudnn.ts";
import { Nvrtc } from "../../native/nvrtc.ts";
import { KERNELS, MAX_RANK } from "./kernels.ts";

class CudaBuffer implements DeviceBuffer {
  constructor(readonly ptr: bigint, readonly length: number, readonly bytes: number) {}
}

/** The CUDA backend, plus `dispose` for whoever created it outside the device registry. */
export interface CudaBackend extends Backend {
  /** Frees every cached buffer, the kernels, the cuDNN/cuBLAS handles, the stream and context. */
  dispose(): void;
  /** The one stream all work runs on (NCCL's collectives join it). */
  readonly stream: Deno.PointerValue;
  /** A buffer's device address. */
  address(b: DeviceBuffer): bigint;
  /** Waits for the stream's work. */
  synchronize(): void;
}

/** Whether LFDIFF_TF32=1 lets cuBLAS and cuDNN use TF32 (the op tests loosen GEMMs to match). */
export function tf32Enabled(): boolean {
  try {
    return Deno.env.get("LFDIFF_TF32") === "1";
  } catch {
    return false; // no --allow-env
  }
}

const THREADS = 256;
const buf = (b: DeviceBuffer) => b as CudaBuffer;
const at = (b: DeviceBuffer, off = 0) => buf(b).ptr + BigInt(off * 4);
const ptrArg = (b: DeviceBuffer | null, off = 0) => new BigUint64Array([b ? at(b, off) : 0n]);
const i32 = (v: number) => new Int32Array([v]);
const i64 = (v: number) => new BigInt64Array([BigInt(v)]);
const f32 = (v: number) => new Float32Array([v]);
/** Blocks for one thread per element. */
const perThread = (n: number) => Math.ceil(n / THREADS);
/** Blocks for grid-stride loops: enough to fill the device, no more. */
const gridStride = (n: number) => Math.min(Math.ceil(n / THREADS), 8 * 1024);
const resampleArgs = (g: ResampleGeometry) => [
  i32(g.mode === "nearest" ? 1 : 0),
  i64(g.planes),
  i32(g.h),
  i32(g.w),
  i32(g.oh),
  i32(g.ow),
];

/** The `Strided` struct of the kernels: rank, shape, two stride lists (8-byte fields). */
function strided(
  shape: readonly number[],
  a: readonly number[],
  b: readonly number[],
): BigInt64Array {
  if (shape.length > MAX_RANK) {
    throw new Error(`cuda: ${shape.length}-d strided op exceeds ${MAX_RANK} axes`);
  }
  const s = new BigInt64Array(1 + 3 * MAX_RANK);
  s[0] = BigInt(shape.length);
  shape.forEach((d, i) => {
    s[1 + i] = BigInt(d);
    s[1 + MAX_RANK + i] = BigInt(a[i]);
    s[1 + 2 * MAX_RANK + i] = BigInt(b[i]);
  });
  return s;
}

/** Axes of a reduction's input: sizes and element strides, outermost first. */
export interface Axes {
  shape: number[];
  stride: number[];
}

/** How reduceSum runs a sum: see the reduce kernels in kernels.ts. */
export interface ReducePlan {
  kept: Axes;
  red: Axes;
  outputs: number;
  /** Elements summed into each output. */
  count: number;
  /** "block": a block per (output, part); "thread": a thread per output, per part. */
  layout: "block" | "thread";
  /** Each output's sum is split in `parts` chunks of `chunk` elements (none empty). */
  parts: number;
  chunk: number;
  /** Blocks per part in the thread layout (outputs / THREADS, rounded up). */
  tiles: number;
  blocks: number;
  /** 64-bit index math: the input has 2^30 elements or more (loop counters need headroom). */
  wide: boolean;
}

/**
 * Plans a sum over the `reduce` axes of a contiguous `shape` for a device that wants about
 * `target` blocks in flight. Size-1 axes go and adjacent axes of the same kind merge, so
 * the kernels decompose indices over few axes.
 */
export function planReduce(
  shape: readonly number[],
  reduce: readonly boolean[],
  target: number,
): ReducePlan {
  const kept: Axes = { shape: [], stride: [] }, red: Axes = { shape: [], stride: [] };
  let stride = shape.reduce((a, b) => a * b, 1), last: boolean | null = null;
  shape.forEach((d, i) => {
    stride /= d || 1;
    if (d === 1) return;
    const into = reduce[i] ? red : kept;
    if (last === reduce[i]) { // adjacent in memory to the previous axis: merge
      into.shape[into.shape.length - 1] *= d;
      into.stride[into.stride.length - 1] = stride;
    } else {
      into.shape.push(d);
      into.stride.push(stride);
    }
    last = reduce[i];
  });
  if (kept.shape.length > MAX_RANK || red.shape.length > MAX_RANK) {
    throw new Error(`cuda: reduction over a ${shape.length}-d shape exceeds ${MAX_RANK} axes`);
  }
  const outputs = kept.shape.reduce((a, b) => a * b, 1);
  const count = red.shape.reduce((a, b) => a * b, 1);
  const innermost = red.stride.at(-1) === 1 && red.shape.at(-1)! >= THREADS;
  // A block per output when its threads all read consecutive elements, or when there are
  // too few outputs to give every thread one; otherwise a thread per output (shorter rows
  // then come through the cache a line at a time).
  const layout = innermost || outputs < target || kept.shape.length === 0 ? "block" : "thread";
  const tiles = layout === "block" ? outputs : Math.ceil(outputs / THREADS);
  // Split each sum only while the device is not yet full, and never below ~2048 elements
  // per block (block layout) or 32 per thread (thread layout); at most 1024 partials.
  const minChunk = layout === "block" ? 8 * THREADS : 32;
  let parts = Math.max(1, Math.min(Math.ceil(target / tiles), Math.ceil(count / minChunk), 1024));
  const chunk = Math.max(1, Math.ceil(count / parts));
  parts = Math.max(1, Math.ceil(count / chunk));
  return {
    kept,
    red,
    outputs,
    count,
    layout,
    parts,
    chunk,
    tiles,
    blocks: tiles * parts,
    wide: outputs * count >= 2 ** 30,
  };
}

/** The kernels' `Axes<I>` struct: rank, shape[MAX_RANK], stride[MAX_RANK] as I. */
function axesArg(a: Axes, wide: boolean): Int32Array | BigInt64Array {
  const v = [a.shape.length, ...pad(a.shape), ...pad(a.stride)];
  return wide ? new BigInt64Array(v.map(BigInt)) : new Int32Array(v);
}
const pad = (xs: number[]) => [...xs, ...new Array(MAX_RANK - xs.length).fill(0)];

/** Rounds allocations so freed buffers are reusable: 512 B granules, 2 MiB above 1 MiB. */
function bucket(bytes: number): number {
  const g = bytes > 1 << 20 ? 2 << 20 : 512;
  return Math.max(g, Math.ceil(bytes / g) * g);
}

/** `ordinal`: the device (native/cuda.ts), 0 unless a data-parallel rank picks its own. */
export function createCudaBackend(ordinal = 0): CudaBackend {
  const cuda = new Cuda(ordinal);
  const tf32 = tf32Enabled();
  const cublas = new Cublas(cuda.stream, tf32);
  const cudnn = new Cudnn(cuda.stream, tf32);
  const module = cuda.loadModule(
    new Nvrtc().compile(KERNELS, "lfdiff_kernels.cu", cuda.computeCapability),
  );
  const target = 8 * cuda.multiprocessors;
  const fns = new Map<string, Deno.PointerValue>();
  const launch = (name: string, blocks: number, args: ArrayBufferView[]) => {
    if (blocks === 0) return; // cuLaunchKernel rejects an empty grid; empty work is done
    let f = fns.get(name);
    if (!f) fns.set(name, f = cuda.getFunction(module, name));
    cuda.launch(f, [blocks, 1, 1], [THREADS, 1, 1], args, name);
  };

  const pool = new Map<number, bigint[]>();
  const emptyPool = () => {
    cuda.sync();
    for (const list of pool.values()) for (const p of list) cuda.free(p);
    pool.clear();
  };
  const alloc = (n: number): CudaBuffer => {
    const bytes = bucket(Math.max(n, 1) * 4);
    const cached = pool.get(bytes)?.pop();
    if (cached !== undefined) return new CudaBuffer(cached, n, bytes);
    try {
      return new CudaBuffer(cuda.alloc(bytes), n, bytes);
    } catch {
      emptyPool(); // out of memory: hand the cache back to the driver and try once more
      return new CudaBuffer(cuda.alloc(bytes), n, bytes);
    }
  };
  const release = (b: DeviceBuffer) => {
    const c = buf(b);
    let list = pool.get(c.bytes);
    if (!list) pool.set(c.bytes, list = []);
    list.push(c.ptr);
  };
  let workspace: CudaBuffer | null = null;
  const scratch = (bytes: number): bigint => {
    if (!workspace || workspace.bytes < bytes) {
      if (workspace) release(workspace);
      workspace = alloc(Math.ceil(bytes / 4));
    }
    return workspace.ptr;
  };
  /** cuDNN may use the free memory, the workspace we hold and what our cache holds. */
  const workspaceLimit = () =>
    cuda.memInfo().free + (workspace?.bytes ?? 0) +
    [...pool].reduce((s, [bytes, list]) => s + bytes * list.length, 0);
  const zero = (b: DeviceBuffer) => cuda.fill32(at(b), 0, b.length);

  const reduceSum = (
    x: DeviceBuffer,
    shape: readonly number[],
    reduce: readonly boolean[],
    out: DeviceBuffer,
  ) => {
    const p = planReduce(shape, reduce, target);
    if (p.outputs === 0) return;
    if (p.count === 0) return zero(out); // a sum of nothing
    const kind = p.wide ? "i64" : "i32", I = p.wide ? i64 : i32;
    const part = p.parts > 1 ? alloc(2 * p.outputs * p.parts) : null; // doubles
    const kept = axesArg(p.kept, p.wide), red = axesArg(p.red, p.wide);
    if (p.layout === "block") {
      launch(`reduce_block_${kind}`, p.blocks, [
        kept,
        red,
        I(p.count),
        I(p.chunk),
        i32(p.parts),
        ptrArg(x),
        ptrArg(out),
        ptrArg(part),
      ]);
    } else {
      launch(`reduce_thread_${kind}`, p.blocks, [
        kept,
        red,
        I(p.outputs),
        I(p.count),
        I(p.chunk),
        i32(p.tiles),
        ptrArg(x),
        ptrArg(out),
        ptrArg(part),
      ]);
    }
    if (!part) return;
    const [so, ss] = p.layout === "block" ? [p.parts, 1] : [1, p.outputs];
    launch("reduce_finish", perThread(p.outputs), [
      ptrArg(part),
      ptrArg(out),
      i64(p.outputs),
      i32(p.parts),
      i64(so),
      i64(ss),
    ]);
    release(part); // stream order: later work that reuses it runs after reduce_finish
  };

  let disposed = false;
  return {
    name: "cuda",
    stream: cuda.stream,
    address: (b) => at(b),
    synchronize: () => cuda.sync(),
    alloc, // uninitialised, as the interface allows: every kernel writes all its outputs
    free: release,
    upload(dst, src) {
      if (src.length !== dst.length) {
        throw new Error(`cuda upload: ${src.length} values for a buffer of ${dst.length}`);
      }
      cuda.upload(at(dst), src);
    },
    download(src) {
      const out = new Float32Array(src.length);
      cuda.download(at(src), out);
      return out;
    },
    fill: (dst, v) =>
      cuda.fill32(at(dst), new Uint32Array(new Float32Array([v]).buffer)[0], dst.length),
    copy(shape, src, so, ss, dst, dof, ds) {
      const n = shape.reduce((a, b) => a * b, 1);
      launch("copy_strided", gridStride(n), [
        strided(shape, ss, ds),
        i64(n),
        ptrArg(src),
        i64(so),
        ptrArg(dst),
        i64(dof),
      ]);
    },
    unary: (op, x, out, a, b) =>
      launch("unary", gridStride(out.length), [
        i32(UNARY_OPS.indexOf(op)),
        i64(out.length),
        ptrArg(x),
        ptrArg(out),
        f32(a),
        f32(b),
      ]),
    unaryBackward: (op, x, y, g, dx, a, b) =>
      launch("unary_backward", gridStride(dx.length), [
        i32(UNARY_OPS.indexOf(op)),
        i64(dx.length),
        ptrArg(x),
        ptrArg(y),
        ptrArg(g),
        ptrArg(dx),
        f32(a),
        f32(b),
      ]),
    binary(op, shape, a, as, b, bs, out) {
      const n = shape.reduce((x, y) => x * y, 1);
      launch("binary", gridStride(n), [
        i32(BINARY_OPS.indexOf(op)),
        strided(shape, as, bs),
        i64(n),
        ptrArg(a),
        ptrArg(b),
        ptrArg(out),
      ]);
    },
    reduceSum,
    gemm: ({ transA, transB, m, n, k, batch, alpha, beta, a, b, c }) =>
      cublas.sgemm(
        transA,
        transB,
        m,
        n,
        k,
        alpha,
        at(a.buf, a.off),
        a.ld,
        a.stride,
        at(b.buf, b.off),
        b.ld,
        b.stride,
        beta,
        at(c.buf, c.off),
        c.ld,
        c.stride,
        batch,
      ),
    // One block per row; rows of nothing have nothing to write.
    softmax: (x, y, rows, cols) =>
      launch("softmax_rows", cols ? rows : 0, [ptrArg(x), ptrArg(y), i32(cols)]),
    softmaxBackward: (y, g, dx, rows, cols) =>
      launch("softmax_rows_backward", cols ? rows : 0, [
        ptrArg(y),
        ptrArg(g),
        ptrArg(dx),
        i32(cols),
      ]),
    layerNorm: ({ n, c, hw, eps }, x, w, b, y, mean, rstd) =>
      launch("layer_norm", perThread(n * hw), [
        ptrArg(x),
        ptrArg(w),
        ptrArg(b),
        ptrArg(y),
        ptrArg(mean),
        ptrArg(rstd),
        i32(n),
        i32(c),
        i64(hw),
        f32(eps),
      ]),
    layerNormBackward({ n, c, hw }, x, w, mean, rstd, g, dx, dw, db) {
      launch("layer_norm_backward_x", perThread(n * hw), [
        ptrArg(x),
        ptrArg(w),
        ptrArg(mean),
        ptrArg(rstd),
        ptrArg(g),
        ptrArg(dx),
        i32(db ? 1 : 0),
        i32(n),
        i32(c),
        i64(hw),
      ]);
      // dw = Σ g·x̂ and db = Σ g over images and pixels: the reduction's two passes.
      const terms = alloc(n * c * hw);
      launch("layer_norm_wb_terms", gridStride(n * c * hw), [
        ptrArg(x),
        ptrArg(mean),
        ptrArg(rstd),
        ptrArg(g),
        ptrArg(terms),
        i32(db ? 1 : 0),
        i32(n),
        i32(c),
        i64(hw),
      ]);
      reduceSum(terms, [n, c, hw], [true, false, true], dw);
      release(terms);
      if (db) reduceSum(g, [n, c, hw], [true, false, true], db);
    },
    // cuDNN refuses descriptors with a zero size: an empty operand is handled here.
    conv2d(geo, x, w, bias, y, act, add) {
      if (y.length === 0) return;
      if (x.length === 0 || w.length === 0) zero(y);
      else {
        const plan = cudnn.plan(geo, workspaceLimit);
        cudnn.forward(plan, at(x), at(w), at(y), scratch(plan.fwd.workspace));
      }
      if (bias) {
        const n = geo.n * geo.cout * geo.oh * geo.ow;
        launch("add_channel_bias", gridStride(n), [
          ptrArg(y),
          ptrArg(bias),
          i64(geo.n),
          i32(geo.cout),
          i64(geo.oh * geo.ow),
        ]);
      }
      if (act) this.unary(act.op, y, y, act.slope ?? 0, 0);
      if (add) this.binary("add", [y.length], y, [1], add, [1], y);
    },
    conv2dBackwardData(geo, g, w, dx) {
      if (dx.length === 0) return;
      if (g.length === 0 || w.length === 0) return zero(dx);
      const plan = cudnn.plan(geo, workspaceLimit);
      cudnn.backwardData(plan, at(w), at(g), at(dx), scratch(plan.bwdData.workspace));
    },
    conv2dBackwardFilter(geo, x, g, dw, db) {
      if (db) reduceSum(g, [geo.n, geo.cout, geo.oh * geo.ow], [true, false, true], db);
      if (dw.length === 0) return;
      if (x.length === 0 || g.length === 0) return zero(dw);
      const plan = cudnn.plan(geo, workspaceLimit);
      cudnn.backwardFilter(plan, at(x), at(g), at(dw), scratch(plan.bwdFilter.workspace));
    },
    avgPool2d: (g, x, y) =>
      launch("avg_pool", perThread(y.length), [
        ptrArg(x),
        ptrArg(y),
        i64(g.planes),
        i32(g.h),
        i32(g.w),
        i32(g.oh),
        i32(g.ow),
        i32(g.k),
        i32(g.stride),
      ]),
    avgPool2dBackward: (g, dy, dx) =>
      launch("avg_pool_backward", perThread(dx.length), [
        ptrArg(dy),
        ptrArg(dx),
        i64(g.planes),
        i32(g.h),
        i32(g.w),
        i32(g.oh),
        i32(g.ow),
        i32(g.k),
        i32(g.stride),
      ]),
    // argmax holds int32 indices (the buffer is n 32-bit elements, its content ours).
    maxPool2d: (g, x, y, am) =>
      launch("max_pool", perThread(y.length), [
        ptrArg(x),
        ptrArg(y),
        ptrArg(am),
        i64(g.planes),
        i32(g.h),
        i32(g.w),
        i32(g.oh),
        i32(g.ow),
        i32(g.k),
        i32(g.stride),
      ]),
    maxPool2dBackward(g, dy, am, dx) {
      zero(dx);
      launch("max_pool_backward", perThread(dy.length), [
        ptrArg(dy),
        ptrArg(am),
        ptrArg(dx),
        i64(g.planes),
        i32(g.h),
        i32(g.w),
        i32(g.oh),
        i32(g.ow),
      ]);
    },
    resample: (geo, x, y) =>
      launch("resample", perThread(y.length), [...resampleArgs(geo), ptrArg(x), ptrArg(y)]),
    resampleBackward(geo, g, dx) {
      zero(dx);
      launch("resample_backward", perThread(g.length), [
        ...resampleArgs(geo),
        ptrArg(g),
        ptrArg(dx),
      ]);
    },
    adam: (p, g, m, v, s) =>
      launch("adam", gridStride(p.length), [
        ptrArg(p),
        ptrArg(g),
        ptrArg(m),
        ptrArg(v),
        i64(p.length),
        f32(s.lr),
        f32(s.beta1),
        f32(s.beta2),
        f32(s.eps),
        f32(s.weightDecay),
        f32(s.bias1),
        f32(s.bias2),
      ]),
    dispose() {
      if (disposed) return;
      disposed = true;
      if (workspace) release(workspace);
      workspace = null;
      emptyPool();
      cuda.unloadModule(module);
      cudnn.close();
      cublas.close();
      cuda.close();
    },
  };
}
