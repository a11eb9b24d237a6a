// NCCL (libnccl.so.2) through Deno.dlopen: a communicator over the ranks of an MPI job (the
// unique id travels by MPI broadcast) and in-place float sums on a CUDA stream. Found as the
// CUDA libraries are (native/cuda.ts: CUDA_LIB_DIRS, the loader path, the toolkit folders,
// NVIDIA's pip wheel nvidia/nccl/lib). Written against nccl.h 2.x; not yet run on a GPU.
// NCCL binds a communicator to the CUDA device current when it is made: the caller's
// context (the backend's primary context) must be current.

import { cString, type CudaLibrary, openCudaLibrary } from "./cuda.ts";

/** sizeof(ncclUniqueId): `typedef struct { char internal[128]; }`, passed by value. */
export const NCCL_UNIQUE_ID_BYTES = 128;
const uniqueId = { struct: new Array(NCCL_UNIQUE_ID_BYTES / 8).fill("u64") } as const;

const symbols = {
  ncclGetVersion: { parameters: ["buffer"], result: "i32" },
  ncclGetUniqueId: { parameters: ["buffer"], result: "i32" },
  ncclCommInitRank: { parameters: ["buffer", "i32", uniqueId, "i32"], result: "i32" },
  ncclCommDestroy: { parameters: ["pointer"], result: "i32" },
  ncclAllReduce: {
    parameters: ["u64", "u64", "usize", "i32", "i32", "pointer", "pointer"],
    result: "i32",
  },
  ncclGetErrorString: { parameters: ["i32"], result: "pointer" },
} as const;

/** nccl.h's enums (stable across NCCL 2.x). */
export const NCCL = {
  success: 0,
  float32: 7, // ncclFloat32
  float64: 8, // ncclFloat64
  sum: 0, // ncclSum
} as const;

export const NCCL_LIBRARY: CudaLibrary = {
  what: "NCCL",
  names: ["libnccl.so.2", "libnccl.so"],
  wheels: ["nvidia/nccl/lib", "nvidia/cu13/lib"],
  hint: "install NCCL (libnccl2, or pip install nvidia-nccl-cu12), or set CUDA_LIB_DIRS",
};

export class NcclError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NcclError";
  }
}

/** NCCL_VERSION_CODE → "2.21.5" (codes below 2.9 are X·1000 + Y·100 + Z). */
export function ncclVersionName(code: number): string {
  const [major, minor, patch] = code >= 20900
    ? [Math.floor(code / 10000), Math.floor(code / 100) % 100, code % 100]
    : [Math.floor(code / 1000), Math.floor(code / 100) % 10, code % 100];
  return `${major}.${minor}.${patch}`;
}

export class Nccl {
  readonly #n;
  readonly path: string;
  readonly version: string;

  constructor() {
    const found = openCudaLibrary(NCCL_LIBRARY, symbols);
    this.#n = found.lib.symbols;
    this.path = found.path;
    const v = new Int32Array(1);
    this.#check("ncclGetVersion", this.#n.ncclGetVersion(v));
    this.version = ncclVersionName(v[0]);
  }

  #check(call: string, status: number): void {
    if (status === NCCL.success) return;
    throw new NcclError(
      `${call} failed: ${cString(this.#n.ncclGetErrorString(status))} (${status})`,
    );
  }

  /** A fresh ncclUniqueId (rank 0 makes it; every rank passes the same bytes to `init`). */
  uniqueId(): Uint8Array {
    const id = new Uint8Array(NCCL_UNIQUE_ID_BYTES);
    this.#check("ncclGetUniqueId", this.#n.ncclGetUniqueId(id));
    return id;
  }

  /** ncclCommInitRank: blocks until all `size` ranks have called it with the same id. */
  init(id: Uint8Array, size: number, rank: number): Deno.PointerValue {
    if (id.length !== NCCL_UNIQUE_ID_BYTES) {
      throw new NcclError(`ncclCommInitRank: an id of ${id.length} bytes, not 128`);
    }
    const comm = new BigUint64Array(1);
    this.#check("ncclCommInitRank", this.#n.ncclCommInitRank(comm, size, id, rank));
    return Deno.UnsafePointer.create(comm[0]);
  }

  /** Sums `count` floats at device address `ptr` over the ranks, in place, on `stream`. */
  allreduceSum(comm: Deno.PointerValue, ptr: bigint, count: number, stream: Deno.PointerValue) {
    this.#check(
      "ncclAllReduce",
      this.#n.ncclAllReduce(ptr, ptr, BigInt(count), NCCL.float32, NCCL.sum, comm, stream),
    );
  }

  destroy(comm: Deno.PointerValue): void {
    this.#check("ncclCommDestroy", this.#n.ncclCommDestroy(comm));
  }
}
