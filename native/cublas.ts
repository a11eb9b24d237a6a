// cuBLAS (libcublas.so.*) through Deno.dlopen: a handle on our stream and strided-batched
// SGEMM, with TF32 tensor-core math when asked. cuBLAS is column-major: a row-major
// C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. the operands swapped.

import { cString, CudaError, type CudaLibrary, openCudaLibrary } from "./cuda.ts";

const symbols = {
  cublasCreate_v2: { parameters: ["buffer"], result: "i32" },
  cublasDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cublasSetStream_v2: { parameters: ["pointer", "pointer"], result: "i32" },
  cublasSetMathMode: { parameters: ["pointer", "i32"], result: "i32" },
  cublasSgemmStridedBatched: {
    parameters: [
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "i64",
      "u64",
      "i32",
      "i64",
      "buffer",
      "u64",
      "i32",
      "i64",
      "i32",
    ],
    result: "i32",
  },
  cublasGetStatusString: { parameters: ["i32"], result: "pointer" },
} as const;

export const CUBLAS_LIBRARY: CudaLibrary = {
  what: "cuBLAS",
  names: ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"],
  wheels: ["nvidia/cu13/lib", "nvidia/cublas/lib"],
  companions: /^libcublasLt\.so\.\d+$/, // its dependency, found by soname
  hint: "install cuBLAS (the CUDA toolkit, or pip install nvidia-cublas), or set CUDA_LIB_DIRS",
};

const CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
const CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3;

export class Cublas {
  readonly #b;
  #handle: Deno.PointerValue;
  readonly path: string;

  constructor(stream: Deno.PointerValue, tf32: boolean) {
    const found = openCudaLibrary(CUBLAS_LIBRARY, symbols);
    this.#b = found.lib.symbols;
    this.path = found.path;
    const h = new BigUint64Array(1);
    this.#check("cublasCreate", this.#b.cublasCreate_v2(h));
    this.#handle = Deno.UnsafePointer.create(h[0]);
    this.#check("cublasSetStream", this.#b.cublasSetStream_v2(this.#handle, stream));
    this.#check(
      "cublasSetMathMode",
      this.#b.cublasSetMathMode(
        this.#handle,
        tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH,
      ),
    );
  }

  #check(call: string, status: number): void {
    if (status !== 0) {
      throw new CudaError(
        `${call} failed: ${cString(this.#b.cublasGetStatusString(status))} (status ${status})`,
      );
    }
  }

  /** Row-major C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] for b < batch (device pointers). */
  sgemm(
    ta: boolean,
    tb: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: bigint,
    lda: number,
    strideA: number,
    b: bigint,
    ldb: number,
    strideB: number,
    beta: number,
    c: bigint,
    ldc: number,
    strideC: number,
    batch: number,
  ): void {
    this.#check(
      "cublasSgemmStridedBatched",
      this.#b.cublasSgemmStridedBatched(
        this.#handle,
        tb ? CUBLAS_OP_T : CUBLAS_OP_N,
        ta ? CUBLAS_OP_T : CUBLAS_OP_N,
        n,
        m,
        k,
        new Float32Array([alpha]),
        b,
        ldb,
        BigInt(strideB),
        a,
        lda,
        BigInt(strideA),
        new Float32Array([beta]),
        c,
        ldc,
        BigInt(strideC),
        batch,
      ),
    );
  }

  /** Destroys the handle; idempotent. */
  close(): void {
    if (!this.#handle) return;
    const h = this.#handle;
    this.#handle = null;
    this.#check("cublasDestroy", this.#b.cublasDestroy_v2(h));
  }
}
