// The C library's virtual-memory calls (mmap, madvise) through Deno.dlopen, for the CPU
// arena: address space reserved in one call, memory only where pages are touched, and
// pages given back on request (they read as zeros when touched again). Also the dynamic
// linker's dlopen/dlsym, for libraries whose handles are addresses of their globals.

import { type Found, openLibrary } from "./library.ts";

const symbols = {
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

const PROT_READ_WRITE = 0x3, MAP_PRIVATE = 0x2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
const MADV_DONTNEED = 4;
const CHUNK = 2 << 20;
const MAP_FAILED = 0xffffffffffffffffn;

export class VirtualMemory {
  readonly #s: Found<typeof symbols>["lib"]["symbols"];

  constructor() {
    this.#s = openLibrary("the C library", ["libc.so.6"], [], symbols, "").lib.symbols;
  }

  /**
   * `bytes` of zero-filled address space as floats, starting on a 2 MiB boundary (the arena's
   * residency unit), or null when the system refuses it. No transparent huge pages are asked
   * for: see ops/cpu/arena.ts.
   */
  reserve(bytes: number): Float32Array | null {
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    const p = this.#s.mmap(null, BigInt(bytes + CHUNK), PROT_READ_WRITE, flags, -1, 0n);
    if (p === null || BigInt(Deno.UnsafePointer.value(p)) === MAP_FAILED) return null;
    const skip = (CHUNK - Number(BigInt(Deno.UnsafePointer.value(p)) % BigInt(CHUNK))) % CHUNK;
    const start = Deno.UnsafePointer.offset(p, skip)!;
    return new Float32Array(Deno.UnsafePointerView.getArrayBuffer(start, bytes));
  }

  /** Gives back the pages of floats [start, end) of a region reserve() returned. */
  release(region: Float32Array, start: number, end: number): void {
    const p = Deno.UnsafePointer.of(region.subarray(start, end));
    const status = this.#s.madvise(p, BigInt(4 * (end - start)), MADV_DONTNEED);
    if (status !== 0) {
      throw new Error(`madvise(MADV_DONTNEED) failed on ${4 * (end - start)} bytes`);
    }
  }
}

const linkerSymbols = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  dlerror: { parameters: [], result: "pointer" },
} as const;
const RTLD_NOW = 0x2, RTLD_GLOBAL = 0x100;

/**
 * Opens `path` again with RTLD_GLOBAL, so that the plugins it loads later see its symbols
 * (Open MPI's components need this; Deno opens libraries RTLD_LOCAL), and returns the
 * addresses of the data symbols `names`. Deno's `statics` read a symbol's value; libraries
 * whose handles are the addresses of their globals need the address itself.
 */
export function globalAddresses(path: string, names: string[]): Map<string, Deno.PointerValue> {
  // glibc ≥ 2.34 has the linker calls in libc; older ones in libdl.
  const s = openLibrary("the dynamic linker", ["libc.so.6", "libdl.so.2"], [], linkerSymbols, "")
    .lib.symbols;
  const cstr = (t: string) => new TextEncoder().encode(t + "\0");
  const reason = () => {
    const e = s.dlerror();
    return e ? new Deno.UnsafePointerView(e).getCString() : "unknown reason";
  };
  const handle = s.dlopen(cstr(path), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) throw new Error(`${path}: ${reason()}`);
  return new Map(names.map((n) => {
    const p = s.dlsym(handle, cstr(n));
    if (!p) throw new Error(`${path}: no symbol ${n} (${reason()})`);
    return [n, p];
  }));
}
