// The CUDA driver API (libcuda.so.1) through Deno.dlopen: init, the primary context, memory,
// streams, events, modules and kernel launches, device attributes. Every call's status is
// checked and turned into an error naming the call and the driver's own message.
// Written against cuda.h (CUDA 12/13); the _v2 entry points are what the macros in cuda.h
// resolve to.

import { envDirs, type Found, openLibrary } from "./library.ts";

const symbols = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  cuCtxSetCurrent: { parameters: ["pointer"], result: "i32" },
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "buffer", "usize", "pointer"], result: "i32" },
  cuMemcpyDtoHAsync_v2: { parameters: ["buffer", "u64", "usize", "pointer"], result: "i32" },
  cuMemsetD32Async: { parameters: ["u64", "u32", "usize", "pointer"], result: "i32" },
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuEventRecord: { parameters: ["pointer", "pointer"], result: "i32" },
  cuEventSynchronize: { parameters: ["pointer"], result: "i32" },
  cuEventElapsedTime: { parameters: ["buffer", "pointer", "pointer"], result: "i32" },
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
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

/** Where CUDA libraries are looked for after the loader path (DESIGN/issue 6 order). */
export function cudaDirs(...extraVars: string[]): string[] {
  return [
    ...envDirs("CUDA_LIB_DIRS", ...extraVars),
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/nvidia/lib64",
  ];
}

const CU_DEVICE_ATTRIBUTE = { multiprocessors: 16, ccMajor: 75, ccMinor: 76 } as const;

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

export class Cuda {
  readonly cu: CudaDriver;
  readonly path: string;
  readonly device: number;
  readonly name: string;
  readonly computeCapability: [number, number];
  readonly stream: Deno.PointerValue;

  constructor() {
    const found = openLibrary(
      "the CUDA driver (libcuda.so.1)",
      ["libcuda.so.1"],
      cudaDirs(),
      symbols,
      "install the NVIDIA driver, or run with --device cpu",
    );
    this.cu = found.lib.symbols;
    this.path = found.path;
    this.check("cuInit", this.cu.cuInit(0));
    const count = new Int32Array(1);
    this.check("cuDeviceGetCount", this.cu.cuDeviceGetCount(count));
    if (count[0] < 1) throw new CudaError("no CUDA device found (cuDeviceGetCount returned 0)");
    const dev = new Int32Array(1);
    this.check("cuDeviceGet", this.cu.cuDeviceGet(dev, 0));
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
    const ptrs = new BigUint64Array(args.length);
    args.forEach((
      a,
      i,
    ) => (ptrs[i] = BigInt(
      Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as unknown as Uint8Array)),
    )));
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
}
