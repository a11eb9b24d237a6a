// The CPU backend's memory: float buffers carved out of a few large slabs, first fit, with
// neighbouring free blocks merged. JavaScript cannot give memory back to the system, and
// arrays dropped for the garbage collector stay resident until it runs: one 512×384
// inference peaked at 2.4 GB resident for 0.8 GB of live tensors. A freed block is reused
// at once, by any size, and stays touched, so steps also take no page faults.
// Small buffers (under 1024 floats) are plain arrays: not worth a block.

/** Floats per slab; a larger request gets a slab of its own. */
const SLAB_FLOATS = 1 << 26; // 256 MiB
const SMALL = 1024;

interface Slab {
  data: Float32Array;
  /** Free blocks [offset, length] in floats, by offset, never adjacent. */
  free: [number, number][];
  /** Offsets of blocks handed out, with their lengths. */
  used: Map<number, number>;
}

export class Arena {
  readonly #slabs: Slab[] = [];
  readonly #of = new WeakMap<ArrayBuffer, Slab>();

  /** Floats in slabs (resident once touched). */
  get reserved(): number {
    return this.#slabs.reduce((n, s) => n + s.data.length, 0);
  }

  alloc(n: number): Float32Array {
    if (n < SMALL) return new Float32Array(n);
    for (const s of this.#slabs) {
      const out = this.#take(s, n);
      if (out) return out;
    }
    const data = new Float32Array(Math.max(SLAB_FLOATS, n));
    const slab: Slab = { data, free: [[0, data.length]], used: new Map() };
    this.#slabs.push(slab);
    this.#of.set(data.buffer, slab);
    return this.#take(slab, n)!;
  }

  #take(s: Slab, n: number): Float32Array | null {
    const i = s.free.findIndex(([, len]) => len >= n);
    if (i < 0) return null;
    const [off, len] = s.free[i];
    if (len === n) s.free.splice(i, 1);
    else s.free[i] = [off + n, len - n];
    s.used.set(off, n);
    return s.data.subarray(off, off + n);
  }

  /** Returns a buffer this arena handed out (others are ignored: the GC has them). */
  free(buf: Float32Array): void {
    const s = this.#of.get(buf.buffer as ArrayBuffer);
    if (!s) return;
    const off = buf.byteOffset / 4, n = s.used.get(off);
    if (n !== buf.length) {
      throw new Error(`arena: freeing a block it does not hold (${off}, ${buf.length})`);
    }
    s.used.delete(off);
    // Insert by offset, merging with the free neighbours.
    let i = 0;
    while (i < s.free.length && s.free[i][0] < off) i++;
    let len = n;
    const prev = s.free[i - 1], next = s.free[i];
    if (next && off + len === next[0]) {
      len += next[1];
      s.free.splice(i, 1);
    }
    if (prev && prev[0] + prev[1] === off) {
      prev[1] += len;
      return;
    }
    s.free.splice(i, 0, [off, len]);
  }
}
