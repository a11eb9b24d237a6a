// The CPU backend's memory: float buffers carved first fit out of a large region of address
// space (64 GiB reserved by mmap, backed by memory only where touched), with neighbouring
// free blocks merged. JavaScript's own arrays neither come back to the system when dropped
// nor reuse each other's pages, so the arena decides what stays resident, in 2 MiB chunks:
// a freed block stays resident for reuse (steps allocate the same shapes again, and a fresh
// page costs a fault and a zero fill) unless resident memory would pass the peak of live
// memory plus a slack; then the chunks free the longest are given back (madvise). Peak RSS
// is thus about peak live memory plus the slack: a 1024² inference held 5.0 GB in fixed
// slabs for 2.9 GB of live tensors, and a training step, which reuses every block, takes
// no faults after its first. Without mmap (no --allow-ffi)
// regions are plain 256 MiB arrays, kept. Buffers under 1024 floats are plain arrays.
// No transparent huge pages are asked for: on the development VM of 2026-12-04 (Intel, under
// Firecracker) a first touch of 2 MiB pages cost far more once another process had run and
// exited (a 512×384 paper-literal inference 5.27 s against 4.84 with 4 KiB pages, a 24 MP
// JPEG decode 1.03 s against 0.45), with no gain once warm (training steps within noise).
// The AMD VM before had it the other way (4 KiB faults ~12 µs); measure again on a new host.

import { VirtualMemory } from "../../native/libc.ts";

const SMALL = 1024;
/** Blocks start on 64-byte boundaries (a cache line, an AVX-512 vector): oneDNN's kernels
 * ran a training step's 3×3 convs 8% slower on misaligned buffers. */
const ALIGN = 16;
/** The residency unit, in floats (2 MiB). */
export const CHUNK = 1 << 19;
const MMAP_REGION = 2 ** 34; // floats: 64 GiB of address space
const ARRAY_REGION = 1 << 26; // floats: 256 MiB
/** Resident memory allowed above the live peak, in floats (256 MiB). */
const SLACK = 1 << 26;

/** Where regions come from: reserve() gives zeroed floats, release() returns their pages. */
export interface Memory {
  regionFloats: number;
  reserve(floats: number): Float32Array | null;
  release?(region: Float32Array, start: number, end: number): void;
}

const arrays: Memory = { regionFloats: ARRAY_REGION, reserve: (n) => new Float32Array(n) };

/** mmap'd regions when the C library opens (it needs --allow-ffi), else plain arrays. */
export function systemMemory(): Memory {
  try {
    const vm = new VirtualMemory();
    return {
      regionFloats: MMAP_REGION,
      reserve: (n) => vm.reserve(4 * n),
      release: (r, start, end) => vm.release(r, start, end),
    };
  } catch {
    return arrays;
  }
}

interface Region {
  data: Float32Array;
  /** Free blocks [offset, length] in floats, by offset, never adjacent. */
  free: [number, number][];
  /** Offsets of blocks handed out, with their lengths. */
  used: Map<number, number>;
  /** Per chunk: touched and not given back since. */
  resident: Uint8Array;
  /** Per chunk: when a block in it was last freed (the arena's clock). */
  freedAt: Float64Array;
  /** End of the highest block ever handed out: chunks above were never touched. */
  top: number;
}

export class Arena {
  readonly #regions: Region[] = [];
  readonly #of = new WeakMap<ArrayBuffer, Region>();
  #clock = 0;
  #live = 0;
  #liveHwm = 0;
  #residentChunks = 0;
  #touched = 0;

  constructor(readonly memory: Memory = systemMemory(), readonly slack = SLACK) {}

  /** Floats of address space in regions. */
  get reserved(): number {
    return this.#regions.reduce((n, r) => n + r.data.length, 0);
  }

  /** Floats in resident chunks (counted where pages can be given back, else 0). */
  get resident(): number {
    return this.#residentChunks * CHUNK;
  }

  /**
   * Floats handed out now and at most so far, and (where pages can be given back) floats
   * made resident so far: each a page fault and a zero fill.
   */
  get stats(): { live: number; livePeak: number; touched: number } {
    return { live: this.#live, livePeak: this.#liveHwm, touched: this.#touched * CHUNK };
  }

  alloc(n: number): Float32Array {
    if (n < SMALL) return new Float32Array(n);
    const size = Math.ceil(n / ALIGN) * ALIGN;
    let at: [Region, number] | null = null;
    for (const r of this.#regions) if ((at = this.#take(r, size))) break;
    at ??= this.#take(this.#newRegion(size), size)!;
    const out = at[0].data.subarray(at[1], at[1] + n);
    this.#live += size;
    this.#liveHwm = Math.max(this.#liveHwm, this.#live);
    if (this.memory.release && this.resident > this.#liveHwm + this.slack) this.#giveBack();
    return out;
  }

  #newRegion(n: number): Region {
    let size = Math.max(this.memory.regionFloats, n), data: Float32Array | null = null;
    // Address space may be limited (ulimit -v, strict overcommit): ask for less.
    for (; !data && size >= n; size = Math.floor(size / 2)) data = this.memory.reserve(size);
    if (!data) throw new Error(`out of memory: cannot reserve ${4 * n} bytes`);
    const chunks = Math.ceil(data.length / CHUNK);
    const r: Region = {
      data,
      free: [[0, data.length]],
      used: new Map(),
      resident: new Uint8Array(chunks),
      freedAt: new Float64Array(chunks),
      top: 0,
    };
    this.#regions.push(r);
    this.#of.set(data.buffer as ArrayBuffer, r);
    return r;
  }

  /** A block of n floats from r, as [r, offset], or null when none is free. */
  #take(r: Region, n: number): [Region, number] | null {
    const i = r.free.findIndex(([, len]) => len >= n);
    if (i < 0) return null;
    const [off, len] = r.free[i];
    if (len === n) r.free.splice(i, 1);
    else r.free[i] = [off + n, len - n];
    r.used.set(off, n);
    r.top = Math.max(r.top, off + n);
    if (this.memory.release) {
      for (let c = Math.floor(off / CHUNK); c * CHUNK < off + n; c++) {
        if (!r.resident[c]) {
          r.resident[c] = 1;
          this.#residentChunks++;
          this.#touched++;
        }
      }
    }
    return [r, off];
  }

  /** Returns a buffer this arena handed out (others are ignored: the GC has them). */
  free(buf: Float32Array): void {
    const r = this.#of.get(buf.buffer as ArrayBuffer);
    if (!r) return;
    const off = buf.byteOffset / 4, n = r.used.get(off);
    if (n !== Math.ceil(buf.length / ALIGN) * ALIGN) {
      throw new Error(`arena: freeing a block it does not hold (${off}, ${buf.length})`);
    }
    r.used.delete(off);
    this.#live -= n;
    this.#clock++;
    for (let c = Math.floor(off / CHUNK); c * CHUNK < off + n; c++) r.freedAt[c] = this.#clock;
    // Insert by offset, merging with the free neighbours.
    let i = 0;
    while (i < r.free.length && r.free[i][0] < off) i++;
    let len = n;
    const prev = r.free[i - 1], next = r.free[i];
    if (next && off + len === next[0]) {
      len += next[1];
      r.free.splice(i, 1);
    }
    if (prev && prev[0] + prev[1] === off) {
      prev[1] += len;
      return;
    }
    r.free.splice(i, 0, [off, len]);
  }

  /** Gives back resident chunks wholly inside free blocks, the longest free first. */
  #giveBack(): void {
    const candidates: [Region, number][] = [];
    for (const r of this.#regions) {
      for (const [off, len] of r.free) {
        const end = Math.min(off + len, r.top);
        for (let c = Math.ceil(off / CHUNK); (c + 1) * CHUNK <= end; c++) {
          if (r.resident[c]) candidates.push([r, c]);
        }
      }
    }
    candidates.sort(([ra, a], [rb, b]) => ra.freedAt[a] - rb.freedAt[b]);
    for (const [r, c] of candidates) {
      if (this.resident <= this.#liveHwm + this.slack) break;
      this.memory.release!(r.data, c * CHUNK, (c + 1) * CHUNK);
      r.resident[c] = 0;
      this.#residentChunks--;
    }
  }
}
