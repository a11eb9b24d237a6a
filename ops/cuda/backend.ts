// The CUDA backend: GEMMs through cuBLAS, convolutions through cuDNN, everything else as
// the NVRTC-compiled kernels of ops/cuda/kernels.ts, all on one stream. Buffers come from a
// caching allocator (freed buffers wait by size, so steady-state steps call no cuMemAlloc);
// the host waits only when a value is read. LFDIFF_TF32=1 lets cuBLAS and cuDNN use TF32.

import { type Backend, type DeviceBuffer, type ResampleGeometry, UNARY_OPS } from "../backend.ts";
import { Cuda } from "../../native/cuda.ts";
import { Cublas } from "../../native/cublas.ts";
import { Cudnn } from "../../native/cudnn.ts";
import { Nvrtc } from "../../native/nvrtc.ts";
import { BINARY, KERNELS, MAX_RANK } from "./kernels.ts";

class CudaBuffer implements DeviceBuffer {
  constructor(readonly ptr: bigint, readonly length: number, readonly bytes: number) {}
}

const THREADS = 256;
const buf = (b: DeviceBuffer) => b as CudaBuffer;
const at = (b: DeviceBuffer, off = 0) => buf(b).ptr + BigInt(off * 4);
const ptrArg = (b: DeviceBuffer | null, off = 0) => new BigUint64Array([b ? at(b, off) : 0n]);
const i32 = (v: number) => new Int32Array([v]);
const i64 = (v: number) => new BigInt64Array([BigInt(v)]);
const f32 = (v: number) => new Float32Array([v]);
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

/** Rounds allocations so freed buffers are reusable: 512 B granules, 2 MiB above 1 MiB. */
function bucket(bytes: number): number {
  const g = bytes > 1 << 20 ? 2 << 20 : 512;
  return Math.max(g, Math.ceil(bytes / g) * g);
}

export function createCudaBackend(): Backend {
  const cuda = new Cuda();
  let tf32 = false;
  try {
    tf32 = Deno.env.get("LFDIFF_TF32") === "1";
  } catch { /* no --allow-env */ }
  const cublas = new Cublas(cuda.stream, tf32);
  const cudnn = new Cudnn(cuda.stream, tf32);
  const module = cuda.loadModule(
    new Nvrtc().compile(KERNELS, "lfdiff_kernels.cu", cuda.computeCapability),
  );
  const fns = new Map<string, Deno.PointerValue>();
  const launch = (
    name: string,
    n: number,
    args: ArrayBufferView[],
    grid = Math.max(1, Math.ceil(n / THREADS)),
  ) => {
    let f = fns.get(name);
    if (!f) fns.set(name, f = cuda.getFunction(module, name));
    cuda.launch(f, [grid, 1, 1], [THREADS, 1, 1], args, name);
  };
  const stride = (n: number) => Math.max(1, Math.min(Math.ceil(n / THREADS), 8 * 1024));

  const pool = new Map<number, bigint[]>();
  const alloc = (n: number): CudaBuffer => {
    const bytes = bucket(Math.max(n, 1) * 4);
    const cached = pool.get(bytes)?.pop();
    if (cached !== undefined) return new CudaBuffer(cached, n, bytes);
    try {
      return new CudaBuffer(cuda.alloc(bytes), n, bytes);
    } catch {
      // Out of memory: hand the cache back to the driver and try once more.
      cuda.sync();
      for (const list of pool.values()) for (const p of list) cuda.free(p);
      pool.clear();
      return new CudaBuffer(cuda.alloc(bytes), n, bytes);
    }
  };
  let workspace: CudaBuffer | null = null;
  const scratch = (bytes: number): bigint => {
    if (!workspace || workspace.bytes < bytes) {
      if (workspace) release(workspace);
      workspace = alloc(Math.ceil(bytes / 4));
    }
    return workspace.ptr;
  };
  const release = (b: DeviceBuffer) => {
    const c = buf(b);
    let list = pool.get(c.bytes);
    if (!list) pool.set(c.bytes, list = []);
    list.push(c.ptr);
  };
  const zero = (b: DeviceBuffer) => cuda.fill32(at(b), 0, b.length);

  return {
    name: "cuda",
    alloc(n) {
      const b = alloc(n);
      zero(b);
      return b;
    },
    free: release,
    upload: (dst, src) => cuda.upload(at(dst), src),
    download(src) {
      const out = new Float32Array(src.length);
      cuda.download(at(src), out);
      return out;
    },
    fill: (dst, v) =>
      cuda.fill32(at(dst), new Uint32Array(new Float32Array([v]).buffer)[0], dst.length),
    copy(shape, src, so, ss, dst, dof, ds) {
      const n = shape.reduce((a, b) => a * b, 1);
      if (n) {
        launch("copy_strided", n, [
          strided(shape, ss, ds),
          i64(n),
          ptrArg(src),
          i64(so),
          ptrArg(dst),
          i64(dof),
        ], stride(n));
      }
    },
    unary: (op, x, out, a, b) =>
      launch("unary", out.length, [
        i32(UNARY_OPS.indexOf(op)),
        i64(out.length),
        ptrArg(x),
        ptrArg(out),
        f32(a),
        f32(b),
      ], stride(out.length)),
    unaryBackward: (op, x, y, g, dx, a, b) =>
      launch("unary_backward", dx.length, [
        i32(UNARY_OPS.indexOf(op)),
        i64(dx.length),
        ptrArg(x),
        ptrArg(y),
        ptrArg(g),
        ptrArg(dx),
        f32(a),
        f32(b),
      ], stride(dx.length)),
    binary(op, shape, a, as, b, bs, out) {
      const n = shape.reduce((x, y) => x * y, 1);
      if (n) {
        launch("binary", n, [
          i32(BINARY.indexOf(op)),
          strided(shape, as, bs),
          i64(n),
          ptrArg(a),
          ptrArg(b),
          ptrArg(out),
        ], stride(n));
      }
    },
    reduceSum(x, shape, reduce, out) {
      const st = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const keptAxes = shape.map((_, i) => i).filter((i) => !reduce[i]);
      const redAxes = shape.map((_, i) => i).filter((i) => reduce[i]);
      const kept = strided(
        keptAxes.map((i) => shape[i]),
        keptAxes.map((i) => st[i]),
        keptAxes.map(() => 0),
      );
      const red = strided(
        redAxes.map((i) => shape[i]),
        redAxes.map((i) => st[i]),
        redAxes.map(() => 0),
      );
      const count = redAxes.reduce((a, i) => a * shape[i], 1);
      launch(
        "reduce_sum",
        out.length * THREADS,
        [kept, red, i64(count), ptrArg(x), ptrArg(out)],
        out.length,
      );
    },
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
    softmax: (x, y, rows, cols) =>
      launch("softmax_rows", rows * THREADS, [ptrArg(x), ptrArg(y), i32(cols)], rows),
    softmaxBackward: (y, g, dx, rows, cols) =>
      launch(
        "softmax_rows_backward",
        rows * THREADS,
        [ptrArg(y), ptrArg(g), ptrArg(dx), i32(cols)],
        rows,
      ),
    layerNorm: ({ n, c, hw, eps }, x, w, b, y, mean, rstd) =>
      launch("layer_norm", n * hw, [
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
      launch("layer_norm_backward_x", n * hw, [
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
      launch("layer_norm_backward_wb", c * THREADS, [
        ptrArg(x),
        ptrArg(mean),
        ptrArg(rstd),
        ptrArg(g),
        ptrArg(dw),
        ptrArg(db),
        i32(n),
        i32(c),
        i64(hw),
      ], c);
    },
    conv2d(geo, x, w, bias, y, act) {
      const plan = cudnn.plan(geo);
      cudnn.forward(plan, at(x), at(w), at(y), scratch(plan.fwd[1]));
      if (bias) {
        const n = geo.n * geo.cout * geo.oh * geo.ow;
        launch("add_channel_bias", n, [
          ptrArg(y),
          ptrArg(bias),
          i64(geo.n),
          i32(geo.cout),
          i64(geo.oh * geo.ow),
        ], stride(n));
      }
      if (act) this.unary(act.op, y, y, act.slope ?? 0, 0);
    },
    conv2dBackwardData(geo, g, w, dx) {
      const plan = cudnn.plan(geo);
      cudnn.backwardData(plan, at(w), at(g), at(dx), scratch(plan.bwdData[1]));
    },
    conv2dBackwardFilter(geo, x, g, dw) {
      const plan = cudnn.plan(geo);
      cudnn.backwardFilter(plan, at(x), at(g), at(dw), scratch(plan.bwdFilter[1]));
    },
    avgPool2d: (g, x, y) =>
      launch("avg_pool", y.length, [
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
      launch("avg_pool_backward", dx.length, [
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
    maxPool2d: (g, x, y, am) =>
      launch("max_pool", y.length, [
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
      launch("max_pool_backward", dy.length, [
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
      launch("resample", y.length, [...resampleArgs(geo), ptrArg(x), ptrArg(y)]),
    resampleBackward(geo, g, dx) {
      zero(dx);
      launch("resample_backward", g.length, [...resampleArgs(geo), ptrArg(g), ptrArg(dx)]);
    },
    adam: (p, g, m, v, s) =>
      launch("adam", p.length, [
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
      ], stride(p.length)),
  };
}
