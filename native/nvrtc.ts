// NVRTC (libnvrtc.so.*) through Deno.dlopen: compiles CUDA C for the device's architecture
// to a cubin, with the compiler's log in the error on failure. Compiled code is cached on
// disk (LFDIFF_CACHE or ~/.cache/lfdiff/nvrtc), keyed by a hash of source, options and
// architecture, so kernels compile once per machine.

import { cString, CudaError, type CudaLibrary, openCudaLibrary } from "./cuda.ts";

const symbols = {
  nvrtcCreateProgram: {
    parameters: ["buffer", "buffer", "buffer", "i32", "pointer", "pointer"],
    result: "i32",
  },
  nvrtcCompileProgram: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  nvrtcGetProgramLogSize: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetProgramLog: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetCUBINSize: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetCUBIN: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcDestroyProgram: { parameters: ["buffer"], result: "i32" },
  nvrtcGetErrorString: { parameters: ["i32"], result: "pointer" },
} as const;

export const NVRTC_LIBRARY: CudaLibrary = {
  what: "NVRTC",
  names: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
  wheels: ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"],
  // libnvrtc opens libnvrtc-builtins.so.X.Y by soname when it compiles and has no RUNPATH:
  // from a folder off the loader path that fails unless it is already loaded.
  companions: /^libnvrtc-builtins\.so\.\d+\.\d+$/,
  hint: "install NVRTC (the CUDA toolkit, or pip install nvidia-cuda-nvrtc), or set CUDA_LIB_DIRS",
};

export class Nvrtc {
  readonly #n;
  readonly path: string;
  readonly #companionErrors: string[];

  constructor() {
    const found = openCudaLibrary(NVRTC_LIBRARY, symbols);
    this.#n = found.lib.symbols;
    this.path = found.path;
    this.#companionErrors = found.companionErrors;
  }

  #check(call: string, status: number): void {
    if (status !== 0) {
      throw new CudaError(`${call} failed: ${cString(this.#n.nvrtcGetErrorString(status))}`);
    }
  }

  /** cubin for `arch` (e.g. [9, 0] → sm_90), from the cache or a fresh compile. */
  compile(
    source: string,
    name: string,
    arch: [number, number],
    options: string[] = [],
  ): Uint8Array {
    const opts = [`--gpu-architecture=sm_${arch[0]}${arch[1]}`, "--std=c++17", ...options];
    const key = hash(`${source}\0${opts.join(" ")}\0${this.path}`);
    const dir = cacheDir();
    const cached = dir ? `${dir}/${key}.cubin` : null;
    if (cached) {
      try {
        return Deno.readFileSync(cached);
      } catch { /* not cached yet */ }
    }
    const enc = new TextEncoder();
    const prog = new BigUint64Array(1);
    this.#check(
      "nvrtcCreateProgram",
      this.#n.nvrtcCreateProgram(
        prog,
        enc.encode(source + "\0"),
        enc.encode(name + "\0"),
        0,
        null,
        null,
      ),
    );
    const p = Deno.UnsafePointer.create(prog[0]);
    try {
      const optBufs = opts.map((o) => enc.encode(o + "\0"));
      const optPtrs = new BigUint64Array(
        optBufs.map((b) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)))),
      );
      const status = this.#n.nvrtcCompileProgram(p, opts.length, optPtrs);
      if (status !== 0) {
        const size = new BigUint64Array(1);
        this.#n.nvrtcGetProgramLogSize(p, size);
        const log = new Uint8Array(Number(size[0]));
        this.#n.nvrtcGetProgramLog(p, log);
        const end = log.indexOf(0); // the size counts the terminating NUL
        const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end));
        const also = this.#companionErrors.map((e) => `; preloading ${e}`).join("");
        throw new CudaError(
          `NVRTC (${this.path}) could not compile ${name}: ${
            cString(this.#n.nvrtcGetErrorString(status))
          }: ${text.trim().replace(/\s*\n\s*/g, " ")}${also}`,
        );
      }
      const size = new BigUint64Array(1);
      this.#check("nvrtcGetCUBINSize", this.#n.nvrtcGetCUBINSize(p, size));
      const cubin = new Uint8Array(Number(size[0]));
      this.#check("nvrtcGetCUBIN", this.#n.nvrtcGetCUBIN(p, cubin));
      if (cached) {
        try {
          Deno.mkdirSync(dir!, { recursive: true });
          const tmp = `${cached}.${Deno.pid}.tmp`;
          Deno.writeFileSync(tmp, cubin);
          Deno.renameSync(tmp, cached);
        } catch { /* an unwritable cache only costs a recompile */ }
      }
      return cubin;
    } finally {
      this.#n.nvrtcDestroyProgram(prog);
    }
  }
}

function cacheDir(): string | null {
  try {
    return Deno.env.get("LFDIFF_CACHE") ??
      (Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.cache/lfdiff/nvrtc` : null);
  } catch {
    return null;
  }
}

/** Two 64-bit FNV-1a hashes (different offsets) of the text: a 128-bit cache key. */
function hash(s: string): string {
  const bytes = new TextEncoder().encode(s);
  const prime = 0x100000001b3n, mask = (1n << 64n) - 1n;
  let a = 0xcbf29ce484222325n, b = 0x84222325cbf29ce4n;
  for (const x of bytes) {
    a = ((a ^ BigInt(x)) * prime) & mask;
    b = ((b ^ BigInt(x ^ 0x5a)) * prime) & mask;
  }
  return a.toString(16).padStart(16, "0") + b.toString(16).padStart(16, "0");
}
