// The block every OpenEXR compressor decodes to ("raw" layout): line by line, and within a
// line each channel (in header order) that has samples there, little-endian. Subsampled
// channels (xs, ys > 1) have samples only on lines and columns divisible by their sampling.

export interface ChunkChannel {
  name: string;
  type: number; // 0 UINT, 1 HALF, 2 FLOAT
  bytes: number; // per sample
  pLinear: boolean;
  ys: number;
  nx: number; // samples per line in this block
  ny: number; // lines with samples in this block
}

export interface Chunk {
  y0: number; // first line (absolute)
  lines: number;
  channels: ChunkChannel[];
  size: number; // bytes of the raw layout
}

/** Floor-mod, for the negative coordinates data windows may have. */
export const mod = (a: number, b: number): number => ((a % b) + b) % b;

/** Samples with coordinate divisible by s in [a, b] (OpenEXR's numSamples). */
export function numSamples(s: number, a: number, b: number): number {
  const a1 = Math.floor(a / s), b1 = Math.floor(b / s);
  return b1 - a1 + (a1 * s < a ? 0 : 1);
}

export function hasLine(c: ChunkChannel, y: number): boolean {
  return mod(y, c.ys) === 0;
}

/**
 * Interleaves channel-planar blocks (each channel's nx×ny samples of `bytes` bytes in turn,
 * as PIZ, B44 and DWA keep them) into the raw layout.
 */
export function planarToRaw(planar: Uint8Array, chunk: Chunk): Uint8Array {
  const out = new Uint8Array(chunk.size);
  const starts: number[] = [];
  let at = 0;
  for (const c of chunk.channels) {
    starts.push(at);
    at += c.nx * c.ny * c.bytes;
  }
  const row = chunk.channels.map(() => 0);
  let o = 0;
  for (let l = 0; l < chunk.lines; l++) {
    chunk.channels.forEach((c, i) => {
      if (!hasLine(c, chunk.y0 + l)) return;
      const n = c.nx * c.bytes, from = starts[i] + row[i]++ * n;
      out.set(planar.subarray(from, from + n), o);
      o += n;
    });
  }
  return out;
}
