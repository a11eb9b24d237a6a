// cuDNN 9 (libcudnn.so.9) through Deno.dlopen: tensor, filter and convolution descriptors
// (with groups), convolution forward, backward-data and backward-filter. For each shape the
// algorithm is chosen once (cuDNN's heuristics, the fastest that fits) and cached with its
// workspace size.

import { cString, cudaDirs, CudaError } from "./cuda.ts";
import { envDirs, openLibrary } from "./library.ts";

const P = "pointer" as const;
const symbols = {
  cudnnCreate: { parameters: ["buffer"], result: "i32" },
  cudnnSetStream: { parameters: [P, P], result: "i32" },
  cudnnGetErrorString: { parameters: ["i32"], result: P },
  cudnnCreateTensorDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnSetTensor4dDescriptor: {
    parameters: [P, "i32", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  cudnnCreateFilterDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnSetFilter4dDescriptor: {
    parameters: [P, "i32", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  cudnnCreateConvolutionDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnSetConvolution2dDescriptor: {
    parameters: [P, "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  cudnnSetConvolutionGroupCount: { parameters: [P, "i32"], result: "i32" },
  cudnnSetConvolutionMathType: { parameters: [P, "i32"], result: "i32" },
  cudnnGetConvolutionForwardAlgorithm_v7: {
    parameters: [P, P, P, P, P, "i32", "buffer", "buffer"],
    result: "i32",
  },
  cudnnGetConvolutionBackwardDataAlgorithm_v7: {
    parameters: [P, P, P, P, P, "i32", "buffer", "buffer"],
    result: "i32",
  },
  cudnnGetConvolutionBackwardFilterAlgorithm_v7: {
    parameters: [P, P, P, P, P, "i32", "buffer", "buffer"],
    result: "i32",
  },
  cudnnGetConvolutionForwardWorkspaceSize: {
    parameters: [P, P, P, P, P, "i32", "buffer"],
    result: "i32",
  },
  cudnnGetConvolutionBackwardDataWorkspaceSize: {
    parameters: [P, P, P, P, P, "i32", "buffer"],
    result: "i32",
  },
  cudnnGetConvolutionBackwardFilterWorkspaceSize: {
    parameters: [P, P, P, P, P, "i32", "buffer"],
    result: "i32",
  },
  cudnnConvolutionForward: {
    parameters: [P, "buffer", P, "u64", P, "u64", P, "i32", "u64", "usize", "buffer", P, "u64"],
    result: "i32",
  },
  cudnnConvolutionBackwardData: {
    parameters: [P, "buffer", P, "u64", P, "u64", P, "i32", "u64", "usize", "buffer", P, "u64"],
    result: "i32",
  },
  cudnnConvolutionBackwardFilter: {
    parameters: [P, "buffer", P, "u64", P, "u64", P, "i32", "u64", "usize", "buffer", P, "u64"],
    result: "i32",
  },
} as const;

const NCHW = 0, FLOAT = 0, CROSS_CORRELATION = 1;
const DEFAULT_MATH = 0, FMA_MATH = 3; // FMA_MATH: exact fp32, no TF32
/** sizeof(cudnnConvolution*AlgoPerf_t): algo, status, time, (pad), memory, determinism, mathType, reserved[3]. */
const PERF_BYTES = 48, PERF_COUNT = 8;

export interface ConvShape {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilH: number;
  dilW: number;
  groups: number;
}

interface Plan {
  x: Deno.PointerValue;
  y: Deno.PointerValue;
  w: Deno.PointerValue;
  conv: Deno.PointerValue;
  fwd: [number, number];
  bwdData: [number, number];
  bwdFilter: [number, number];
}

export class Cudnn {
  readonly #d;
  readonly #handle: Deno.PointerValue;
  readonly #plans = new Map<string, Plan>();
  readonly path: string;

  constructor(stream: Deno.PointerValue, readonly tf32: boolean) {
    const found = openLibrary(
      "cuDNN",
      ["libcudnn.so.9", "libcudnn.so"],
      [...envDirs("CUDNN_PATH").flatMap((d) => [d, `${d}/lib`, `${d}/lib64`]), ...cudaDirs()],
      symbols,
      "install cuDNN 9, or set CUDNN_PATH",
    );
    this.#d = found.lib.symbols;
    this.path = found.path;
    const h = new BigUint64Array(1);
    this.#check("cudnnCreate", this.#d.cudnnCreate(h));
    this.#handle = Deno.UnsafePointer.create(h[0]);
    this.#check("cudnnSetStream", this.#d.cudnnSetStream(this.#handle, stream));
  }

  #check(call: string, status: number): void {
    if (status !== 0) {
      throw new CudaError(
        `${call} failed: ${cString(this.#d.cudnnGetErrorString(status))} (status ${status})`,
      );
    }
  }

  #desc(
    create:
      | "cudnnCreateTensorDescriptor"
      | "cudnnCreateFilterDescriptor"
      | "cudnnCreateConvolutionDescriptor",
  ): Deno.PointerValue {
    const p = new BigUint64Array(1);
    this.#check(create, this.#d[create](p));
    return Deno.UnsafePointer.create(p[0]);
  }

  /** Descriptors and algorithms for one shape, made once. */
  plan(s: ConvShape): Plan {
    const key = JSON.stringify(s);
    const cached = this.#plans.get(key);
    if (cached) return cached;
    const d = this.#d, hd = this.#handle;
    const x = this.#desc("cudnnCreateTensorDescriptor"),
      y = this.#desc("cudnnCreateTensorDescriptor");
    const w = this.#desc("cudnnCreateFilterDescriptor"),
      conv = this.#desc("cudnnCreateConvolutionDescriptor");
    this.#check(
      "cudnnSetTensor4dDescriptor",
      d.cudnnSetTensor4dDescriptor(x, NCHW, FLOAT, s.n, s.cin, s.h, s.w),
    );
    this.#check(
      "cudnnSetTensor4dDescriptor",
      d.cudnnSetTensor4dDescriptor(y, NCHW, FLOAT, s.n, s.cout, s.oh, s.ow),
    );
    this.#check(
      "cudnnSetFilter4dDescriptor",
      d.cudnnSetFilter4dDescriptor(w, FLOAT, NCHW, s.cout, s.cin / s.groups, s.kh, s.kw),
    );
    this.#check(
      "cudnnSetConvolution2dDescriptor",
      d.cudnnSetConvolution2dDescriptor(
        conv,
        s.padH,
        s.padW,
        s.strideH,
        s.strideW,
        s.dilH,
        s.dilW,
        CROSS_CORRELATION,
        FLOAT,
      ),
    );
    this.#check("cudnnSetConvolutionGroupCount", d.cudnnSetConvolutionGroupCount(conv, s.groups));
    this.#check(
      "cudnnSetConvolutionMathType",
      d.cudnnSetConvolutionMathType(conv, this.tf32 ? DEFAULT_MATH : FMA_MATH),
    );
    const pick = (
      get:
        | "cudnnGetConvolutionForwardAlgorithm_v7"
        | "cudnnGetConvolutionBackwardDataAlgorithm_v7"
        | "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
      size:
        | "cudnnGetConvolutionForwardWorkspaceSize"
        | "cudnnGetConvolutionBackwardDataWorkspaceSize"
        | "cudnnGetConvolutionBackwardFilterWorkspaceSize",
      a: Deno.PointerValue,
      b: Deno.PointerValue,
      c: Deno.PointerValue,
    ): [number, number] => {
      const count = new Int32Array(1), perf = new Uint8Array(PERF_BYTES * PERF_COUNT);
      this.#check(get, d[get](hd, a, b, conv, c, PERF_COUNT, count, perf));
      const dv = new DataView(perf.buffer);
      for (let i = 0; i < count[0]; i++) {
        if (dv.getInt32(i * PERF_BYTES + 4, true) !== 0) continue; // status ≠ success
        const algo = dv.getInt32(i * PERF_BYTES, true);
        const ws = new BigUint64Array(1);
        this.#check(size, d[size](hd, a, b, conv, c, algo, ws));
        return [algo, Number(ws[0])];
      }
      throw new CudaError(`${get}: no usable algorithm for ${key}`);
    };
    const plan: Plan = {
      x,
      y,
      w,
      conv,
      fwd: pick(
        "cudnnGetConvolutionForwardAlgorithm_v7",
        "cudnnGetConvolutionForwardWorkspaceSize",
        x,
        w,
        y,
      ),
      bwdData: pick(
        "cudnnGetConvolutionBackwardDataAlgorithm_v7",
        "cudnnGetConvolutionBackwardDataWorkspaceSize",
        w,
        y,
        x,
      ),
      bwdFilter: pick(
        "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
        "cudnnGetConvolutionBackwardFilterWorkspaceSize",
        x,
        y,
        w,
      ),
    };
    this.#plans.set(key, plan);
    return plan;
  }

  forward(p: Plan, x: bigint, w: bigint, y: bigint, ws: bigint): void {
    this.#check(
      "cudnnConvolutionForward",
      this.#d.cudnnConvolutionForward(
        this.#handle,
        ONE,
        p.x,
        x,
        p.w,
        w,
        p.conv,
        p.fwd[0],
        ws,
        BigInt(p.fwd[1]),
        ZERO,
        p.y,
        y,
      ),
    );
  }

  backwardData(p: Plan, w: bigint, dy: bigint, dx: bigint, ws: bigint): void {
    this.#check(
      "cudnnConvolutionBackwardData",
      this.#d.cudnnConvolutionBackwardData(
        this.#handle,
        ONE,
        p.w,
        w,
        p.y,
        dy,
        p.conv,
        p.bwdData[0],
        ws,
        BigInt(p.bwdData[1]),
        ZERO,
        p.x,
        dx,
      ),
    );
  }

  backwardFilter(p: Plan, x: bigint, dy: bigint, dw: bigint, ws: bigint): void {
    this.#check(
      "cudnnConvolutionBackwardFilter",
      this.#d.cudnnConvolutionBackwardFilter(
        this.#handle,
        ONE,
        p.x,
        x,
        p.y,
        dy,
        p.conv,
        p.bwdFilter[0],
        ws,
        BigInt(p.bwdFilter[1]),
        ZERO,
        p.w,
        dw,
      ),
    );
  }
}

const ONE = new Float32Array([1]), ZERO = new Float32Array([0]);
