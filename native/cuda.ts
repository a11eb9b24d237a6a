// The CUDA driver API (libcuda.so.1) through Deno.dlopen: init, the primary context, memory,
// streams, events, modules and kernel launches, device attributes. Every call's status is
// checked and turned into an error naming the call and the driver's own message.
// Written against cuda.h (CUDA 12/13); the _v2 entry points are what the macros in cuda.h
// resolve to.

import {
  envDirs,
  type Found,
  LibraryNotFound,
  openLibrary,
  sitePackages,
  wheelDirs,
} from "./library.ts";

const symbols = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRelease_v2: { parameters: ["i32"], result: "i32" },
  cuCtxSetCurrent: { parameters: ["pointer"], result: "i32" },
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "buffer", "usize", "pointer"], result: "i32" },
  cuMemcpyDtoHAsync_v2: { parameters: ["buffer", "u64", "usize", "pointer"], result: "i32" },
  cuMemsetD32Async: { parameters: ["u64", "u32", "usize", "pointer"], result: "i32" },
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuStreamDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuEventRecord: { parameters: ["pointer", "pointer"], result: "i32" },
  cuEventSynchronize: { parameters: ["pointer"], result: "i32" },
  // What cuEventElapsedTime means since CUDA 12.8; older drivers lack it (then null).
  cuEventElapsedTime_v2: {
    parameters: ["buffer", "pointer", "pointer"],
    result: "i32",
    optional: true,
  },
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
  cuModuleUnload: { parameters: ["pointer"], result: "i32" },
  cuModuleGetFunction: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  cuLaunchKernel: {
    parameters: [
      "pointer",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "pointer",
      "buffer",
      "pointer",
    ],
    result: "i32",
  },
  cuGetErrorString: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

export type CudaDriver = Found<typeof symbols>["lib"]["symbols"];

/** Toolkit and driver folders searched after the loader path. */
const SYSTEM_DIRS = [
  "/usr/local/cuda/lib64",
  "/usr/local/cuda/targets/x86_64-linux/lib",
  "/usr/lib/x86_64-linux-gnu",
  "/usr/local/nvidia/lib64",
  "/usr/lib/wsl/lib",
];

export interface CudaLibrary {
  /** Its name in messages, e.g. "cuDNN". */
  what: string;
  names: string[];
  /** Folders of NVIDIA's pip wheels, relative to site-packages (e.g. "nvidia/cudnn/lib"). */
  wheels: string[];
  /** A variable naming an install prefix (CUDNN_PATH): it, its lib and lib64 come first. */
  prefixVar?: string;
  companions?: RegExp;
  hint: string;
}

/**
 * Opens a CUDA library: the folders of its prefix variable and CUDA_LIB_DIRS first,
 * then the loader path, the toolkit folders, and NVIDIA's wheels in every Python
 * site-packages. The error names every place tried and the site-packages searched.
 */
export function openCudaLibrary<S extends Deno.ForeignLibraryInterface>(
  lib: CudaLibrary,
  symbols: S,
): Found<S> {
  const packages = sitePackages();
  const prefixes = lib.prefixVar ? envDirs(lib.prefixVar) : [];
  return openLibrary(
    lib.what,
    lib.names,
    [...SYSTEM_DIRS, ...wheelDirs(lib.wheels, packages)],
    symbols,
    `${lib.hint} (Python site-packages searched for ${lib.wheels.join(" or ")}: ${
      packages.join(", ") || "none found"
    })`,
    {
      first: [
        ...prefixes.flatMap((d) => [d, `${d}/lib`, `${d}/lib64`]),
        ...envDirs("CUDA_LIB_DIRS"),
      ],
      companions: lib.companions,
    },
  );
}

const CU_DEVICE_ATTRIBUTE = { multiprocessors: 16, ccMajor: 75, ccMinor: 76 } as const;
/** cuInit's answers that mean this machine has no usable GPU, not a broken install. */
const NO_GPU = new Map([[100, "CUDA_ERROR_NO_DEVICE"], [34, "CUDA_ERROR_STUB_LIBRARY"]]);

/** Reads a C string at a pointer. */
export function cString(p: Deno.PointerValue): string {
  return p ? new Deno.UnsafePointerView(p).getCString() : "(null)";
}

export class CudaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CudaError";
  }
}

/**
 * This machine has no NVIDIA driver or no device: the one failure that means "no GPU
 * here". Anything else (a library that will not load, a failing call) is a CudaError or a
 * library error, a fault to report.
 */
export class NoCudaDevice extends CudaError {
  constructor(message: string) {
    super(message);
    this.name = "NoCudaDevice";
  }
}

export class Cuda {
  readonly cu: CudaDriver;
  readonly path: string;
  readonly device: number;
  readonly name: string;
  readonly computeCapability: [number, number];
  readonly stream: Deno.PointerValue;
  /** Devices visible to this process. */
  readonly deviceCount: number;
  #open = true;

  /**
   * Opens device `ordinal` modulo the visible devices: a data-parallel rank passes its rank
   * on the node, so each gets its own GPU, or device 0 when CUDA_VISIBLE_DEVICES shows each
   * rank one.
   */
  constructor(ordinal = 0) {
    let found: Found<typeof symbols>;
    try {
      found = openLibrary(
        "the CUDA driver (libcuda.so.1)",
        ["libcuda.so.1"],
        SYSTEM_DIRS,
        symbols,
        "install the NVIDIA driver, or run with --device cpu",
        { first: envDirs("CUDA_LIB_DIRS") },
      );
    } catch (e) {
      throw e instanceof LibraryNotFound ? new NoCudaDevice(e.message) : e;
    }
    this.cu = found.lib.symbols;
    this.path = found.path;
    const init = this.cu.cuInit(0);
    if (NO_GPU.has(init)) {
      throw new NoCudaDevice(
        `cuInit: ${NO_GPU.get(init)} (no NVIDIA GPU usable here, ${this.path})`,
      );
    }
    this.check("cuInit", init);
    const count = new Int32Array(1);
    this.check("cuDeviceGetCount", this.cu.cuDeviceGetCount(count));
    if (count[0] < 1) throw new NoCudaDevice("no CUDA device found (cuDeviceGetCount returned 0)");
    this.deviceCount = count[0];
    const dev = new Int32Array(1);
    this.check("cuDeviceGet", this.cu.cuDeviceGet(dev, ordinal % count[0]));
    this.device = dev[0];
    const name = new Uint8Array(256);
    this.check("cuDeviceGetName", this.cu.cuDeviceGetName(name, 256, this.device));
    this.name = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
    this.computeCapability = [
      this.attribute(CU_DEVICE_ATTRIBUTE.ccMajor),
      this.attribute(CU_DEVICE_ATTRIBUTE.ccMinor),
    ];
    const ctx = new BigUint64Array(1);
    this.check("cuDevicePrimaryCtxRetain", this.cu.cuDevicePrimaryCtxRetain(ctx, this.device));
    this.check("cuCtxSetCurrent", this.cu.cuCtxSetCurrent(Deno.UnsafePointer.create(ctx[0])));
    const stream = new BigUint64Array(1);
    this.check("cuStreamCreate", this.cu.cuStreamCreate(stream, 0));
    this.stream = Deno.UnsafePointer.create(stream[0]);
  }

  check(call: string, status: number): void {
    if (status === 0) return;
    const msg = new BigUint64Array(1);
    this.cu.cuGetErrorString(status, msg);
    throw new CudaError(
      `${call} failed: ${cString(Deno.UnsafePointer.create(msg[0]))} (CUresult ${status})`,
    );
  }

  attribute(attr: number): number {
    const v = new Int32Array(1);
    this.check("cuDeviceGetAttribute", this.cu.cuDeviceGetAttribute(v, attr, this.device));
    return v[0];
  }

  get multiprocessors(): number {
    return this.attribute(CU_DEVICE_ATTRIBUTE.multiprocessors);
  }

  memInfo(): { free: number; total: number } {
    const f = new BigUint64Array(1), t = new BigUint64Array(1);
    this.check("cuMemGetInfo", this.cu.cuMemGetInfo_v2(f, t));
    return { free: Number(f[0]), total: Number(t[0]) };
  }

  alloc(bytes: number): bigint {
    const p = new BigUint64Array(1);
    this.check(`cuMemAlloc(${bytes} bytes)`, this.cu.cuMemAlloc_v2(p, BigInt(bytes)));
    return p[0];
  }

  free(ptr: bigint): void {
    this.check("cuMemFree", this.cu.cuMemFree_v2(ptr));
  }

  upload(dst: bigint, src: Float32Array): void {
    this.check(
      "cuMemcpyHtoDAsync",
      this.cu.cuMemcpyHtoDAsync_v2(dst, src, BigInt(src.byteLength), this.stream),
    );
    this.sync(); // src may be collected once we return
  }

  download(src: bigint, dst: Float32Array): void {
    this.check(
      "cuMemcpyDtoHAsync",
      this.cu.cuMemcpyDtoHAsync_v2(dst, src, BigInt(dst.byteLength), this.stream),
    );
    this.sync();
  }

  fill32(dst: bigint, bits: number, count: number): void {
    this.check(
      "cuMemsetD32Async",
      this.cu.cuMemsetD32Async(dst, bits >>> 0, BigInt(count), this.stream),
    );
  }

  sync(): void {
    this.check("cuStreamSynchronize", this.cu.cuStreamSynchronize(this.stream));
  }

  loadModule(image: Uint8Array): Deno.PointerValue {
    const m = new BigUint64Array(1);
    this.check("cuModuleLoadData", this.cu.cuModuleLoadData(m, image));
    return Deno.UnsafePointer.create(m[0]);
  }

  unloadModule(module: Deno.PointerValue): void {
    this.check("cuModuleUnload", this.cu.cuModuleUnload(module));
  }

  getFunction(module: Deno.PointerValue, name: string): Deno.PointerValue {
    const f = new BigUint64Array(1);
    this.check(
      `cuModuleGetFunction(${name})`,
      this.cu.cuModuleGetFunction(f, module, new TextEncoder().encode(name + "\0")),
    );
    return Deno.UnsafePointer.create(f[0]);
  }

  /** Launches on our stream; `args` are the kernel's parameters, each as its own bytes. */
  launch(
    fn: Deno.PointerValue,
    grid: [number, number, number],
    block: [number, number, number],
    args: ArrayBufferView[],
    name: string,
    shared = 0,
  ): void {
    const ptrs = new BigUint64Array(
      args.map((a) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array)))),
    );
    this.check(
      `cuLaunchKernel(${name})`,
      this.cu.cuLaunchKernel(
        fn,
        grid[0],
        grid[1],
        grid[2],
        block[0],
        block[1],
        block[2],
        shared,
        this.stream,
        ptrs,
        null,
      ),
    );
  }

  /** Waits for the stream, destroys it and releases the primary context; idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.sync();
    this.check("cuStreamDestroy", this.cu.cuStreamDestroy_v2(this.stream));
    this.check("cuDevicePrimaryCtxRelease", this.cu.cuDevicePrimaryCtxRelease_v2(this.device));
  }
}
