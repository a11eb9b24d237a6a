// cuDNN 9 (libcudnn.so.9) through Deno.dlopen: tensor, filter and convolution descriptors
// (with groups), convolution forward, backward-data and backward-filter. For each shape the
// algorithm of each pass is chosen once (cuDNN's heuristics rank them fastest first: the
// first whose workspace fits in free memory, run with the math type cuDNN ranked it under);
// a bounded cache keeps the most recent shapes and destroys the descriptors of the others.

import { cString, CudaError, type CudaLibrary, openCudaLibrary } from "./cuda.ts";

const P = "pointer" as const;
const symbols = {
  cudnnCreate: { parameters: ["buffer"], result: "i32" },
  cudnnDestroy: { parameters: [P], result: "i32" },
  cudnnSetStream: { parameters: [P, P], result: "i32" },
  cudnnGetErrorString: { parameters: ["i32"], result: P },
  cudnnCreateTensorDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnDestroyTensorDescriptor: { parameters: [P], result: "i32" },
  cudnnSetTensor4dDescriptor: {
    parameters: [P, "i32", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  cudnnCreateFilterDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnDestroyFilterDescriptor: { parameters: [P], result: "i32" },
  cudnnSetFilter4dDescriptor: {
    parameters: [P, "i32", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  cudnnCreateConvolutionDescriptor: { parameters: ["buffer"], result: "i32" },
  cudnnDestroyConvolutionDescriptor: { parameters: [P], result: "i32" },
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
const PERF_BYTES = 48, PERF_COUNT = 16;
/** Shapes whose descriptors and algorithms stay cached; the least recently used go first. */
export const MAX_PLANS = 256;

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

/** One entry of the heuristics' answer (cudnnConvolution*AlgoPerf_t). */
export interface AlgoPerf {
  algo: number;
  status: number;
  mathType: number;
}

/** The algorithm a pass runs, the math type to set for it and its workspace in bytes. */
export interface ConvAlgo {
  algo: number;
  math: number;
  workspace: number;
}

export function readPerf(perf: Uint8Array, count: number): AlgoPerf[] {
  const dv = new DataView(perf.buffer, perf.byteOffset, perf.byteLength);
  return Array.from({ length: count }, (_, i) => ({
    algo: dv.getInt32(i * PERF_BYTES, true),
    status: dv.getInt32(i * PERF_BYTES + 4, true),
    mathType: dv.getInt32(i * PERF_BYTES + 28, true),
  }));
}

/**
 * The first of `ranked` (fastest first) that succeeded, keeps to exact fp32 unless TF32 is
 * allowed, and whose workspace (`workspace(entry)`, asked of cuDNN under the entry's math
 * type) fits in `limit` bytes; null when none does.
 */
export function chooseAlgo(
  ranked: AlgoPerf[],
  limit: number,
  tf32: boolean,
  workspace: (e: AlgoPerf) => number,
): ConvAlgo | null {
  for (const e of ranked) {
    if (e.status !== 0 || (!tf32 && e.mathType !== FMA_MATH)) continue;
    const bytes = workspace(e);
    if (bytes <= limit) return { algo: e.algo, math: e.mathType, workspace: bytes };
  }
  return null;
}

export interface Plan {
  x: Deno.PointerValue;
  y: Deno.PointerValue;
  w: Deno.PointerValue;
  conv: Deno.PointerValue;
  fwd: ConvAlgo;
  bwdData: ConvAlgo;
  bwdFilter: ConvAlgo;
}

export const CUDNN_LIBRARY: CudaLibrary = {
  what: "cuDNN",
  names: ["libcudnn.so.9", "libcudnn.so"],
  wheels: ["nvidia/cudnn/lib"],
  prefixVar: "CUDNN_PATH",
  // libcudnn.so.9 opens its sub-libraries (graph, engines, ops, cnn, ...) by soname.
  companions: /^libcudnn_\w+\.so\.9$/,
  hint: "install cuDNN 9 (apt, or pip install nvidia-cudnn-cu13), or set CUDNN_PATH",
};

type Pass = "Forward" | "BackwardData" | "BackwardFilter";

export class Cudnn {
  readonly #d;
  #handle: Deno.PointerValue;
  readonly #plans = new Map<string, Plan>();
  readonly #companionErrors: string[];
  readonly path: string;

  constructor(stream: Deno.PointerValue, readonly tf32: boolean) {
    const found = openCudaLibrary(CUDNN_LIBRARY, symbols);
    this.#d = found.lib.symbols;
    this.path = found.path;
    this.#companionErrors = found.companionErrors;
    const h = new BigUint64Array(1);
    this.#check("cudnnCreate", this.#d.cudnnCreate(h));
    this.#handle = Deno.UnsafePointer.create(h[0]);
    this.#check("cudnnSetStream", this.#d.cudnnSetStream(this.#handle, stream));
  }

  #check(call: string, status: number): void {
    if (status !== 0) {
      const also = this.#companionErrors.map((e) => `; preloading ${e}`).join("");
      throw new CudaError(
        `${call} failed: ${cString(this.#d.cudnnGetErrorString(status))} (status ${status})${also}`,
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

  #destroy(p: Plan): void {
    const d = this.#d;
    this.#check("cudnnDestroyTensorDescriptor", d.cudnnDestroyTensorDescriptor(p.x));
    this.#check("cudnnDestroyTensorDescriptor", d.cudnnDestroyTensorDescriptor(p.y));
    this.#check("cudnnDestroyFilterDescriptor", d.cudnnDestroyFilterDescriptor(p.w));
    this.#check("cudnnDestroyConvolutionDescriptor", d.cudnnDestroyConvolutionDescriptor(p.conv));
  }

  /** Number of cached plans (at most MAX_PLANS). */
  get plans(): number {
    return this.#plans.size;
  }

  /**
   * Descriptors and algorithms for one shape, made once; `available()` says how many bytes
   * of workspace the device can give (asked only when a shape is new).
   */
  plan(s: ConvShape, available: () => number): Plan {
    const key = JSON.stringify(s);
    const cached = this.#plans.get(key);
    if (cached) { // most recently used last
      this.#plans.delete(key);
      this.#plans.set(key, cached);
      return cached;
    }
    const d = this.#d, hd = this.#handle;
    const x = this.#desc("cudnnCreateTensorDescriptor"),
      y = this.#desc("cudnnCreateTensorDescriptor");
    const w = this.#desc("cudnnCreateFilterDescriptor"),
      conv = this.#desc("cudnnCreateConvolutionDescriptor");
    const partial = { x, y, w, conv } as Plan;
    try {
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
      const limit = available();
      const pick = (
        pass: Pass,
        a: Deno.PointerValue,
        b: Deno.PointerValue,
        c: Deno.PointerValue,
      ) => {
        // The heuristics rank for the math type on the descriptor: exact fp32 unless TF32.
        this.#setMath(conv, this.tf32 ? DEFAULT_MATH : FMA_MATH);
        const get = `cudnnGetConvolution${pass}Algorithm_v7` as const;
        const size = `cudnnGetConvolution${pass}WorkspaceSize` as const;
        const count = new Int32Array(1), perf = new Uint8Array(PERF_BYTES * PERF_COUNT);
        this.#check(get, d[get](hd, a, b, conv, c, PERF_COUNT, count, perf));
        const ranked = readPerf(perf, count[0]);
        const chosen = chooseAlgo(ranked, limit, this.tf32, (e) => {
          this.#setMath(conv, e.mathType);
          const ws = new BigUint64Array(1);
          this.#check(size, d[size](hd, a, b, conv, c, e.algo, ws));
          return Number(ws[0]);
        });
        if (chosen) return chosen;
        throw new CudaError(
          `${get}: none of ${ranked.length} algorithms for conv ${key} runs in ${
            (limit / 2 ** 20).toFixed(0)
          } MiB of free device memory${this.tf32 ? "" : " with exact fp32 math"}`,
        );
      };
      const plan: Plan = {
        ...partial,
        fwd: pick("Forward", x, w, y),
        bwdData: pick("BackwardData", w, y, x),
        bwdFilter: pick("BackwardFilter", x, y, w),
      };
      this.#plans.set(key, plan);
      if (this.#plans.size > MAX_PLANS) {
        const [oldest, p] = this.#plans.entries().next().value!;
        this.#plans.delete(oldest);
        this.#destroy(p);
      }
      return plan;
    } catch (e) {
      this.#destroy(partial);
      throw e;
    }
  }

  #setMath(conv: Deno.PointerValue, math: number): void {
    this.#check("cudnnSetConvolutionMathType", this.#d.cudnnSetConvolutionMathType(conv, math));
  }

  forward(p: Plan, x: bigint, w: bigint, y: bigint, ws: bigint): void {
    this.#setMath(p.conv, p.fwd.math);
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
        p.fwd.algo,
        ws,
        BigInt(p.fwd.workspace),
        ZERO,
        p.y,
        y,
      ),
    );
  }

  backwardData(p: Plan, w: bigint, dy: bigint, dx: bigint, ws: bigint): void {
    this.#setMath(p.conv, p.bwdData.math);
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
        p.bwdData.algo,
        ws,
        BigInt(p.bwdData.workspace),
        ZERO,
        p.x,
        dx,
      ),
    );
  }

  backwardFilter(p: Plan, x: bigint, dy: bigint, dw: bigint, ws: bigint): void {
    this.#setMath(p.conv, p.bwdFilter.math);
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
        p.bwdFilter.algo,
        ws,
        BigInt(p.bwdFilter.workspace),
        ZERO,
        p.w,
        dw,
      ),
    );
  }

  /** Destroys every cached plan's descriptors and the handle; idempotent. */
  close(): void {
    if (!this.#handle) return;
    for (const p of this.#plans.values()) this.#destroy(p);
    this.#plans.clear();
    const h = this.#handle;
    this.#handle = null;
    this.#check("cudnnDestroy", this.#d.cudnnDestroy(h));
  }
}

const ONE = new Float32Array([1]), ZERO = new Float32Array([0]);
