// oneDNN (libdnnl.so.2, the 2.x C API, as Debian's libdnnl2 ships it) through Deno.dlopen:
// engine and stream, memory descriptors and objects, operation descriptors, primitive
// descriptors (with attributes: post-ops, user scratchpad), primitives, reorders and
// dnnl_sgemm. Every status is checked and turned into an error naming the call.
// The 2.x API passes descriptors as C structs the caller allocates; only their sizes are
// needed here (they are filled and read by the library). tests/dnnl_test.ts checks the sizes
// and enum values against the installed header when a C compiler and the header exist.

import { envDirs, type Found, openLibrary } from "./library.ts";

/** sizeof of the 2.x structs (x86-64): dnnl_memory_desc_t and the operation descriptors. */
export const SIZES = {
  memoryDesc: 696,
  convolution: 5976,
  eltwise: 1416,
  binary: 2096,
  pooling: 3288,
  layerNorm: 3496,
  softmax: 2800,
  matmul: 2800,
  resampling: 2848,
} as const;

export const DNNL_MAX_NDIMS = 12;
/** dnnl_data_type_t: the element types our buffers hold. */
export const dataType = { bf16: 2, f32: 3 } as const;
export type DataType = typeof dataType[keyof typeof dataType];
export const formatAny = 1; // dnnl_format_tag_any
/** dnnl_cpu_isa_avx512_core_bf16: the ISA bits oneDNN's bf16 kernels need (AMX includes them). */
export const ISA_AVX512_CORE_BF16 = 0xe7;

export const prop = {
  forwardTraining: 64,
  forwardInference: 96,
  backward: 128,
  backwardData: 160,
  backwardWeights: 192,
} as const;

export const alg = {
  convolutionDirect: 1,
  convolutionAuto: 3,
  eltwiseRelu: 31,
  eltwiseTanh: 47,
  eltwiseGeluErf: 48,
  eltwiseAbs: 95,
  eltwiseSqrt: 111,
  eltwiseLinear: 127,
  eltwiseLogistic: 175,
  eltwiseExp: 191,
  eltwiseSwish: 223,
  eltwiseLog: 239,
  eltwiseClip: 255,
  eltwisePow: 32,
  eltwiseReluUseDst: 256,
  eltwiseLogisticUseDst: 260,
  binaryAdd: 131056,
  binaryMul: 131057,
  binaryDiv: 131060,
  binarySub: 131061,
  poolingMax: 511,
  poolingAvgExcludePadding: 1023,
  softmaxAccurate: 196608,
  resamplingNearest: 196592,
  resamplingLinear: 196593,
} as const;

export const arg = {
  src: 1,
  src1: 2,
  dst: 17,
  weights: 33,
  bias: 41,
  mean: 49,
  variance: 50,
  scale: 51,
  shift: 52,
  workspace: 64,
  scratchpad: 80,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
  diffBias: 169,
  diffScale: 255,
  diffShift: 256,
  /** A binary first post-op's operand: DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1. */
  postOp0Src1: 16386,
} as const;

export const query = {
  implInfoStr: 8,
  srcMd: 129,
  diffSrcMd: 130,
  weightsMd: 131,
  diffWeightsMd: 132,
  dstMd: 133,
  diffDstMd: 134,
  workspaceMd: 135,
  scratchpadMd: 136,
} as const;

export const normFlags = { useGlobalStats: 1, useScale: 8, useShift: 16 } as const;

const P = "pointer", B = "buffer", I32 = "i32", U32 = "u32", I64 = "i64", F = "f32";
const S = { result: I32 } as const;

const symbols = {
  dnnl_version: { parameters: [], result: P },
  dnnl_get_effective_cpu_isa: { parameters: [], result: I32 },
  dnnl_engine_create: { parameters: [B, I32, "usize"], ...S },
  dnnl_stream_create: { parameters: [B, P, U32], ...S },
  dnnl_memory_desc_init_by_strides: { parameters: [B, I32, B, I32, B], ...S },
  dnnl_memory_desc_init_by_tag: { parameters: [B, I32, B, I32, I32], ...S },
  dnnl_memory_desc_get_size: { parameters: [B], result: "usize" },
  dnnl_memory_desc_equal: { parameters: [B, B], result: I32 },
  dnnl_memory_create: { parameters: [B, B, P, P], ...S },
  dnnl_memory_set_data_handle: { parameters: [P, P], ...S },
  dnnl_memory_destroy: { parameters: [P], ...S },
  dnnl_primitive_attr_create: { parameters: [B], ...S },
  dnnl_primitive_attr_destroy: { parameters: [P], ...S },
  dnnl_primitive_attr_set_post_ops: { parameters: [P, P], ...S },
  dnnl_primitive_attr_set_scratchpad_mode: { parameters: [P, I32], ...S },
  dnnl_post_ops_create: { parameters: [B], ...S },
  dnnl_post_ops_destroy: { parameters: [P], ...S },
  dnnl_post_ops_append_eltwise: { parameters: [P, F, I32, F, F], ...S },
  dnnl_post_ops_append_sum: { parameters: [P, F], ...S },
  dnnl_post_ops_append_binary: { parameters: [P, I32, B], ...S },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [B, I32, I32, B, B, B, B, B, B, B, B],
    ...S,
  },
  dnnl_dilated_convolution_backward_data_desc_init: {
    parameters: [B, I32, B, B, B, B, B, B, B],
    ...S,
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [B, I32, B, B, B, B, B, B, B, B],
    ...S,
  },
  dnnl_eltwise_forward_desc_init: { parameters: [B, I32, I32, B, F, F], ...S },
  dnnl_eltwise_backward_desc_init: { parameters: [B, I32, B, B, F, F], ...S },
  dnnl_binary_desc_init: { parameters: [B, I32, B, B, B], ...S },
  dnnl_pooling_v2_forward_desc_init: { parameters: [B, I32, I32, B, B, B, B, B, B, B], ...S },
  dnnl_pooling_v2_backward_desc_init: { parameters: [B, I32, B, B, B, B, B, B, B], ...S },
  dnnl_resampling_forward_desc_init: { parameters: [B, I32, I32, P, B, B], ...S },
  dnnl_layer_normalization_forward_desc_init: { parameters: [B, I32, B, B, F, U32], ...S },
  dnnl_layer_normalization_backward_desc_init: { parameters: [B, I32, B, B, B, F, U32], ...S },
  dnnl_softmax_v2_forward_desc_init: { parameters: [B, I32, I32, B, B, I32], ...S },
  dnnl_softmax_v2_backward_desc_init: { parameters: [B, I32, B, B, B, I32], ...S },
  dnnl_matmul_desc_init: { parameters: [B, B, B, B, B], ...S },
  dnnl_primitive_desc_create: { parameters: [B, B, P, P, P], ...S },
  dnnl_reorder_primitive_desc_create: { parameters: [B, B, P, B, P, P], ...S },
  dnnl_primitive_desc_query: { parameters: [P, I32, I32, B], ...S },
  dnnl_primitive_desc_query_md: { parameters: [P, I32, I32], result: P },
  dnnl_primitive_desc_destroy: { parameters: [P], ...S },
  dnnl_primitive_create: { parameters: [B, P], ...S },
  dnnl_primitive_destroy: { parameters: [P], ...S },
  dnnl_primitive_execute: { parameters: [P, P, I32, B], ...S },
  dnnl_stream_wait: { parameters: [P], ...S },
  dnnl_sgemm: { parameters: ["u8", "u8", I64, I64, I64, F, B, I64, B, I64, F, B, I64], ...S },
} as const satisfies Deno.ForeignLibraryInterface;

type Lib = Found<typeof symbols>["lib"]["symbols"];

const STATUS = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

export class DnnlError extends Error {
  constructor(call: string, readonly status: number) {
    super(`oneDNN ${call} failed: ${STATUS[status] ?? "unknown status"} (status ${status})`);
    this.name = "DnnlError";
  }
}

/** A dnnl_memory_desc_t, as the bytes the library fills. */
export type MemoryDesc = Uint8Array;

/** A primitive ready to run: its descriptor's memory layouts and its scratchpad size. */
export interface Primitive {
  readonly prim: Deno.PointerValue;
  readonly pd: Deno.PointerValue;
  readonly scratchpadBytes: number;
  /** The implementation oneDNN chose (e.g. "jit:avx512_core"). */
  readonly impl: string;
}

/** The opened library with a CPU engine and stream. */
export class Dnnl {
  readonly version: string;
  readonly engine: Deno.PointerValue;
  readonly stream: Deno.PointerValue;
  readonly #s: Lib;

  constructor(readonly found: Found<typeof symbols>) {
    this.#s = found.lib.symbols;
    const ints = new Int32Array(3);
    new Deno.UnsafePointerView(this.#s.dnnl_version()!).copyInto(ints);
    this.version = `${ints[0]}.${ints[1]}.${ints[2]}`;
    const out = new BigUint64Array(1);
    this.check("dnnl_engine_create", this.#s.dnnl_engine_create(out, 1, 0n));
    this.engine = Deno.UnsafePointer.create(out[0]);
    this.check("dnnl_stream_create", this.#s.dnnl_stream_create(out, this.engine, 1));
    this.stream = Deno.UnsafePointer.create(out[0]);
  }

  get symbols(): Lib {
    return this.#s;
  }

  check(call: string, status: number): void {
    if (status !== 0) throw new DnnlError(call, status);
  }

  /** A plain memory descriptor: dims with element strides (row-major when omitted). */
  md(
    dims: readonly number[],
    strides?: readonly number[],
    dt: DataType = dataType.f32,
  ): MemoryDesc {
    const st = strides ?? dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
    const md = new Uint8Array(SIZES.memoryDesc);
    this.check(
      "dnnl_memory_desc_init_by_strides",
      this.#s.dnnl_memory_desc_init_by_strides(md, dims.length, dimsOf(dims), dt, dimsOf(st)),
    );
    return md;
  }

  /** A descriptor of `dims` that leaves the layout to the primitive (format_tag_any). */
  mdAny(dims: readonly number[], dt: DataType = dataType.f32): MemoryDesc {
    const md = new Uint8Array(SIZES.memoryDesc);
    this.check(
      "dnnl_memory_desc_init_by_tag",
      this.#s.dnnl_memory_desc_init_by_tag(md, dims.length, dimsOf(dims), dt, formatAny),
    );
    return md;
  }

  /** Whether the CPU runs oneDNN's bf16 kernels (avx512_core_bf16 or AMX). */
  get bf16(): boolean {
    const isa = this.#s.dnnl_get_effective_cpu_isa();
    return (isa & ISA_AVX512_CORE_BF16) === ISA_AVX512_CORE_BF16;
  }

  mdSize(md: MemoryDesc): number {
    return Number(this.#s.dnnl_memory_desc_get_size(md));
  }

  mdEqual(a: MemoryDesc, b: MemoryDesc): boolean {
    return this.#s.dnnl_memory_desc_equal(a, b) === 1;
  }

  /** A memory object over `handle` (null: set before each execute). */
  memory(md: MemoryDesc, handle: Deno.PointerValue = null): Deno.PointerValue {
    const out = new BigUint64Array(1);
    this.check("dnnl_memory_create", this.#s.dnnl_memory_create(out, md, this.engine, handle));
    return Deno.UnsafePointer.create(out[0]);
  }

  setHandle(mem: Deno.PointerValue, handle: Deno.PointerValue): void {
    this.check("dnnl_memory_set_data_handle", this.#s.dnnl_memory_set_data_handle(mem, handle));
  }

  /**
   * Primitive attributes: a user scratchpad (so scratch memory is ours, shared by all
   * primitives) and optional post-ops, each an eltwise [alg, alpha, beta], a sum, or a
   * binary [alg, src1's layout] (as the first post-op, its operand is `arg.postOp0Src1`).
   */
  attr(
    postOps: (
      | { eltwise: [number, number, number] }
      | { sum: number }
      | { binary: [number, MemoryDesc] }
    )[] = [],
  ): Deno.PointerValue {
    const out = new BigUint64Array(1);
    this.check("dnnl_primitive_attr_create", this.#s.dnnl_primitive_attr_create(out));
    const a = Deno.UnsafePointer.create(out[0]);
    this.check(
      "dnnl_primitive_attr_set_scratchpad_mode",
      this.#s.dnnl_primitive_attr_set_scratchpad_mode(a, 1),
    );
    if (postOps.length) {
      this.check("dnnl_post_ops_create", this.#s.dnnl_post_ops_create(out));
      const po = Deno.UnsafePointer.create(out[0]);
      for (const p of postOps) {
        if ("sum" in p) {
          this.check("dnnl_post_ops_append_sum", this.#s.dnnl_post_ops_append_sum(po, p.sum));
        } else if ("binary" in p) {
          this.check(
            "dnnl_post_ops_append_binary",
            this.#s.dnnl_post_ops_append_binary(po, p.binary[0], p.binary[1]),
          );
        } else {
          const [k, alpha, beta] = p.eltwise;
          this.check(
            "dnnl_post_ops_append_eltwise",
            this.#s.dnnl_post_ops_append_eltwise(po, 1, k, alpha, beta),
          );
        }
      }
      this.check(
        "dnnl_primitive_attr_set_post_ops",
        this.#s.dnnl_primitive_attr_set_post_ops(a, po),
      );
      this.#s.dnnl_post_ops_destroy(po);
    }
    return a;
  }

  /**
   * Builds a primitive from an operation descriptor `init` fills (its size in SIZES), with
   * post-ops and, for backward passes, the forward primitive descriptor as the hint.
   */
  primitive(
    what: string,
    size: number,
    init: (desc: Uint8Array) => number,
    postOps: Parameters<Dnnl["attr"]>[0] = [],
    hint: Primitive | null = null,
  ): Primitive {
    const desc = new Uint8Array(size);
    this.check(what, init(desc));
    const attr = this.attr(postOps);
    const out = new BigUint64Array(1);
    try {
      this.check(
        `dnnl_primitive_desc_create (${what})`,
        this.#s.dnnl_primitive_desc_create(out, desc, attr, this.engine, hint?.pd ?? null),
      );
    } finally {
      this.#s.dnnl_primitive_attr_destroy(attr);
    }
    return this.#finish(Deno.UnsafePointer.create(out[0]));
  }

  #impl(pd: Deno.PointerValue): string {
    const info = new BigUint64Array(1);
    this.#s.dnnl_primitive_desc_query(pd, query.implInfoStr, 0, info);
    return info[0] ? Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(info[0])!) : "?";
  }

  /** A reorder (any strided or blocked layout to any other) between two descriptors. */
  reorder(src: MemoryDesc, dst: MemoryDesc): Primitive {
    const attr = this.attr();
    const out = new BigUint64Array(1);
    try {
      this.check(
        "dnnl_reorder_primitive_desc_create",
        this.#s.dnnl_reorder_primitive_desc_create(out, src, this.engine, dst, this.engine, attr),
      );
    } finally {
      this.#s.dnnl_primitive_attr_destroy(attr);
    }
    return this.#finish(Deno.UnsafePointer.create(out[0]));
  }

  #finish(pd: Deno.PointerValue): Primitive {
    const out = new BigUint64Array(1);
    this.check("dnnl_primitive_create", this.#s.dnnl_primitive_create(out, pd));
    const scratch = this.queryMd(pd, query.scratchpadMd);
    return {
      prim: Deno.UnsafePointer.create(out[0]),
      pd,
      scratchpadBytes: scratch ? this.mdSize(scratch) : 0,
      impl: this.#impl(pd),
    };
  }

  /** The memory descriptor a primitive descriptor chose for `what` (null if none). */
  queryMd(pd: Deno.PointerValue, what: number, index = 0): MemoryDesc | null {
    const p = this.#s.dnnl_primitive_desc_query_md(pd, what, index);
    if (!p) return null;
    const md = new Uint8Array(SIZES.memoryDesc);
    new Deno.UnsafePointerView(p).copyInto(md);
    return md;
  }

  /** Runs a primitive with (arg, memory) pairs and waits for it. */
  execute(p: Primitive, args: readonly [number, Deno.PointerValue][]): void {
    const buf = new BigUint64Array(args.length * 2);
    args.forEach(([a, m], i) => {
      buf[2 * i] = BigInt(a);
      buf[2 * i + 1] = BigInt(Deno.UnsafePointer.value(m));
    });
    this.check(
      "dnnl_primitive_execute",
      this.#s.dnnl_primitive_execute(p.prim, this.stream, args.length, buf),
    );
  }

  destroy(p: Primitive): void {
    this.#s.dnnl_primitive_destroy(p.prim);
    this.#s.dnnl_primitive_desc_destroy(p.pd);
  }
}

/** dnnl_dims_t (int64[12]) from a short list. */
export function dimsOf(d: readonly number[]): BigInt64Array {
  const out = new BigInt64Array(DNNL_MAX_NDIMS);
  d.forEach((v, i) => out[i] = BigInt(v));
  return out;
}

/**
 * Opens oneDNN by soname, then LFDIFF_DNNL_LIB_DIR and the usual folders. Its OpenMP threads
 * are told to sleep when idle (OMP_WAIT_POLICY=PASSIVE, unless the environment says
 * otherwise): spinning threads of two busy processes on a shared machine slowed both 20×.
 */
export function openDnnl(): Dnnl {
  try {
    if (!Deno.env.get("OMP_WAIT_POLICY")) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
  } catch { /* no --allow-env: libgomp's default */ }
  const found = openLibrary(
    "oneDNN",
    ["libdnnl.so.2"],
    [
      ...envDirs("LFDIFF_DNNL_LIB_DIR"),
      "/usr/lib/x86_64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      "/usr/local/lib",
      "/usr/lib64",
    ],
    symbols,
    "install it with `apt-get install libdnnl2` or set LFDIFF_DNNL_LIB_DIR",
  );
  return new Dnnl(found);
}
