// OpenBLAS through Deno.dlopen: single-precision GEMM and the thread-count controls.
// Debian's libopenblas0-pthread provides libopenblas.so.0.

import { envDirs, type Found, openLibrary } from "./library.ts";

const symbols = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
} as const;

export type OpenBlas = Found<typeof symbols>;

export const CblasRowMajor = 101;
export const CblasNoTrans = 111;
export const CblasTrans = 112;

/**
 * Opens OpenBLAS; throws LibraryNotFound naming every path tried. Its threads are told to
 * sleep as soon as a GEMM ends (OPENBLAS_THREAD_TIMEOUT=4, unless the environment says
 * otherwise): by default they spin for ~2^28 cycles, taking a core from the TypeScript
 * kernels' worker threads between GEMMs (a training step on this path ran 10% slower).
 */
export function openOpenBlas(): OpenBlas {
  try {
    if (!Deno.env.get("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  } catch { /* no --allow-env: OpenBLAS's default */ }
  return openLibrary(
    "OpenBLAS",
    ["libopenblas.so.0", "libopenblas.so"],
    [
      ...envDirs("OPENBLAS_LIB_DIR"),
      "/usr/lib/x86_64-linux-gnu/openblas-pthread",
      "/usr/lib/aarch64-linux-gnu/openblas-pthread",
      "/usr/lib64",
      "/usr/local/lib",
      "/opt/OpenBLAS/lib",
    ],
    symbols,
    "install it with `apt-get install libopenblas0-pthread` or set OPENBLAS_LIB_DIR",
  );
}
