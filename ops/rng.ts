// Seeded random numbers: xoshiro128** seeded by splitmix32, Box–Muller normals. The state is
// four uint32s, so a checkpoint can save and restore it and a resumed run draws the same.

export class Rng {
  #s = new Uint32Array(4);

  constructor(seed = 0) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Next uint32. */
  next(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 bits, exactly representable in float32. */
  float(): number {
    return (this.next() >>> 8) / 16777216;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  uniform(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.float();
    return out;
  }

  normal(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u1 = 1 - this.float(); // (0, 1]
      const u2 = this.float();
      const r = Math.sqrt(-2 * Math.log(u1)), th = 2 * Math.PI * u2;
      out[i] = mean + std * r * Math.cos(th);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(th);
    }
    return out;
  }

  get state(): number[] {
    return [...this.#s];
  }

  set state(s: number[]) {
    if (s.length !== 4) throw new Error("Rng state must be 4 uint32 values");
    this.#s.set(s);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let globalRng = new Rng(0);

/** The process-wide generator used when an op or initialiser is given none. */
export function defaultRng(): Rng {
  return globalRng;
}

export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}
