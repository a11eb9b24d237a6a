// Row-major SGEMM for the CPU backend: OpenBLAS when it loads (multi-threaded), otherwise a
// blocked TypeScript loop. The fallback is announced once on stderr because it is ~50x slower.

import {
  CblasNoTrans,
  CblasRowMajor,
  CblasTrans,
  type OpenBlas,
  openOpenBlas,
} from "../../native/openblas.ts";

export type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** C = alpha op(A) op(B) + beta C, plain loops; i-k-j order keeps the inner loop contiguous. */
export const sgemmTs: Sgemm = (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => {
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const av = transA ? a[p * lda + i] : a[i * lda + p];
      if (av === 0) continue;
      if (transB) {
        for (let j = 0; j < n; j++) row[j] += av * b[j * ldb + p];
      } else {
        const bo = p * ldb;
        for (let j = 0; j < n; j++) row[j] += av * b[bo + j];
      }
    }
    const co = i * ldc;
    if (beta === 0) { for (let j = 0; j < n; j++) c[co + j] = alpha * row[j]; }
    else for (let j = 0; j < n; j++) c[co + j] = alpha * row[j] + beta * c[co + j];
  }
};

function blasSgemm(blas: OpenBlas): Sgemm {
  const f = blas.lib.symbols.cblas_sgemm;
  return (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => {
    if (m === 0 || n === 0) return;
    f(
      CblasRowMajor,
      transA ? CblasTrans : CblasNoTrans,
      transB ? CblasTrans : CblasNoTrans,
      m,
      n,
      k,
      alpha,
      a,
      lda,
      b,
      ldb,
      beta,
      c,
      ldc,
    );
  };
}

export interface GemmProvider {
  sgemm: Sgemm;
  /** "openblas (N threads)" or "typescript" */
  describe: string;
  setThreads(n: number): void;
}

/**
 * OpenBLAS when `open` succeeds, else the TypeScript GEMM after one warning naming what was
 * missing. A permission error (no --allow-ffi) is not a missing library and propagates.
 */
export function selectGemm(open: () => OpenBlas, warn: (msg: string) => void): GemmProvider {
  try {
    const blas = open();
    const s = blas.lib.symbols;
    return {
      sgemm: blasSgemm(blas),
      get describe() {
        return `openblas ${blas.path} (${s.openblas_get_num_threads()} threads)`;
      },
      setThreads: (n) => s.openblas_set_num_threads(n),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    warn(`lfdiff: ${(e as Error).message}; using the slower TypeScript GEMM`);
    return { sgemm: sgemmTs, describe: "typescript", setThreads: () => {} };
  }
}

let provider: GemmProvider | undefined;

/** The process-wide GEMM, chosen once. LFDIFF_BLAS=ts selects the fallback on purpose. */
export function gemmProvider(): GemmProvider {
  if (provider) return provider;
  let forceTs = false;
  try {
    forceTs = Deno.env.get("LFDIFF_BLAS") === "ts";
  } catch { /* no --allow-env: use the default */ }
  provider = forceTs
    ? { sgemm: sgemmTs, describe: "typescript", setThreads: () => {} }
    : selectGemm(openOpenBlas, (m) => console.error(m));
  return provider;
}
