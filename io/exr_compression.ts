// OpenEXR's compressions, each decoding one chunk to the raw layout (exr_chunk.ts): RLE,
// ZIPS/ZIP (byte predictor and even/odd split under zlib), PIZ (exr_piz.ts), PXR24 (24-bit
// floats, byte planes of differences under zlib), B44/B44A (4×4 blocks of halfs in 14 or 3
// bytes); DWAA/DWAB (lossy DCT) are exr_dwa.ts's. Follows OpenEXRCore's internal_*.c.

import { type Chunk, hasLine, planarToRaw } from "./exr_chunk.ts";
import { pizDecode } from "./exr_piz.ts";
import { floatToHalf, halfToFloat } from "./half.ts";
import { ImageError } from "./image.ts";
import { inflate, ZLIB_MAX_RATIO } from "./zlib.ts";

export const COMPRESSION = [
  "NONE",
  "RLE",
  "ZIPS",
  "ZIP",
  "PIZ",
  "PXR24",
  "B44",
  "B44A",
  "DWAA",
  "DWAB",
];
export const LINES_PER_CHUNK = [1, 1, 1, 16, 32, 16, 32, 32, 32, 256];
/**
 * Most raw bytes per compressed byte (bomb checks): RLE 128 from 2; PIZ a 9-bit run code for
 * 255 words; PXR24 zlib over 3 of every 4 float bytes; B44A 32 bytes of a flat block in 3;
 * DWA a zlib-compressed DC value per 8×8 block.
 */
export const MAX_RATIO = [
  1,
  64,
  ZLIB_MAX_RATIO,
  ZLIB_MAX_RATIO,
  460,
  (ZLIB_MAX_RATIO * 4) / 3,
  11,
  11,
  64 * ZLIB_MAX_RATIO,
  64 * ZLIB_MAX_RATIO,
];

export function uncompress(kind: number, data: Uint8Array, chunk: Chunk, file: string): Uint8Array {
  switch (kind) {
    case 1:
      return unpredict(rleDecode(data, chunk.size, file));
    case 2:
    case 3:
      return unpredict(inflate(data, chunk.size, file, "ZIP chunk"));
    case 4:
      return pizDecode(data, chunk, file);
    case 5:
      return pxr24Decode(data, chunk, file);
    case 6:
    case 7:
      return b44Decode(data, chunk, file);
  }
  throw new ImageError(
    file,
    `unsupported compression ${
      COMPRESSION[kind]
    } (NONE, RLE, ZIPS, ZIP, PIZ, PXR24, B44, B44A, DWAA and DWAB are read)`,
  );
}

/** OpenEXR's byte RLE (ImfRle): a negative count n copies −n bytes, else repeats one n+1 times. */
export function rleDecode(src: Uint8Array, expected: number, file: string): Uint8Array {
  const out = new Uint8Array(expected);
  let i = 0, o = 0;
  while (i < src.length) {
    const n = (src[i++] << 24) >> 24;
    if (n < 0) {
      if (i - n > src.length || o - n > expected) throw new ImageError(file, "corrupt RLE chunk");
      out.set(src.subarray(i, i - n), o);
      i -= n;
      o -= n;
    } else {
      if (i >= src.length || o + n + 1 > expected) throw new ImageError(file, "corrupt RLE chunk");
      out.fill(src[i++], o, o + n + 1);
      o += n + 1;
    }
  }
  return o === expected ? out : out.subarray(0, o);
}

/** Undoes the byte predictor and the even/odd split applied before RLE and ZIP. */
export function unpredict(t: Uint8Array): Uint8Array {
  for (let i = 1; i < t.length; i++) t[i] = (t[i - 1] + t[i] - 128) & 0xff;
  const out = new Uint8Array(t.length);
  const half = (t.length + 1) >> 1;
  for (let i = 0; i < t.length; i++) out[i] = i & 1 ? t[half + (i >> 1)] : t[i >> 1];
  return out;
}

export function predict(raw: Uint8Array): Uint8Array {
  const t = new Uint8Array(raw.length);
  const half = (raw.length + 1) >> 1;
  for (let i = 0; i < raw.length; i++) t[i & 1 ? half + (i >> 1) : i >> 1] = raw[i];
  for (let i = t.length - 1; i > 0; i--) t[i] = (t[i] - t[i - 1] + 128 + 256) & 0xff;
  return t;
}

/** PXR24: per line and channel, byte planes (MSB first) of differences along the line. */
function pxr24Decode(data: Uint8Array, chunk: Chunk, file: string): Uint8Array {
  // Float channels keep 3 of their 4 bytes, so the inflated size is at most the raw size.
  const src = inflate(data, chunk.size, file, "PXR24 chunk");
  const out = new Uint8Array(chunk.size);
  const ov = new DataView(out.buffer);
  let p = 0, o = 0;
  for (let l = 0; l < chunk.lines; l++) {
    for (const c of chunk.channels) {
      if (!hasLine(c, chunk.y0 + l)) continue;
      const w = c.nx, planes = c.type === 1 ? 2 : c.type === 2 ? 3 : 4;
      if (p + planes * w > src.length) throw new ImageError(file, "corrupt PXR24 chunk (short)");
      let pixel = 0;
      for (let x = 0; x < w; x++) {
        if (c.type === 1) {
          pixel = (pixel + ((src[p + x] << 8) | src[p + w + x])) & 0xffff;
          ov.setUint16(o, pixel, true);
          o += 2;
        } else {
          let diff = ((src[p + x] << 24) | (src[p + w + x] << 16) | (src[p + 2 * w + x] << 8)) >>>
            0;
          if (c.type === 0) diff = (diff | src[p + 3 * w + x]) >>> 0;
          pixel = (pixel + diff) >>> 0;
          ov.setUint32(o, pixel, true);
          o += 4;
        }
      }
      p += planes * w;
    }
  }
  return out;
}

/**
 * B44/B44A: each HALF channel in 4×4 blocks (edges padded by repetition) of 14 bytes (a
 * value, a shift and fifteen 6-bit differences) or 3 (a flat block), perceptually linear ones
 * (RgbaOutputFile's chroma) mapped back through a log table; other channels stored as they
 * are. Channel-planar, like PIZ.
 */
function b44Decode(data: Uint8Array, chunk: Chunk, file: string): Uint8Array {
  const fail = (): never => {
    throw new ImageError(file, "corrupt B44 chunk (truncated)");
  };
  const planar = new Uint8Array(chunk.size);
  const pv = new DataView(planar.buffer);
  const s = new Uint16Array(16);
  let p = 0, at = 0;
  for (const c of chunk.channels) {
    const { nx, ny } = c, n = nx * ny * c.bytes;
    if (c.type !== 1) {
      if (p + n > data.length) fail();
      planar.set(data.subarray(p, p + n), at);
      p += n;
      at += n;
      continue;
    }
    const log = c.pLinear ? logTable() : null;
    for (let y = 0; y < ny; y += 4) {
      for (let x = 0; x < nx; x += 4) {
        if (p + 3 > data.length) fail();
        if (data[p + 2] >= 13 << 2) {
          unpack3(data, p, s);
          p += 3;
        } else {
          if (p + 14 > data.length) fail();
          unpack14(data, p, s);
          p += 14;
        }
        for (let dy = 0; dy < 4 && y + dy < ny; dy++) {
          for (let dx = 0; dx < 4 && x + dx < nx; dx++) {
            const v = s[4 * dy + dx];
            pv.setUint16(at + 2 * ((y + dy) * nx + x + dx), log ? log[v] : v, true);
          }
        }
      }
    }
    at += n;
  }
  return planarToRaw(planar, chunk);
}

let logCache: Uint16Array | undefined;
/** B44's table for perceptually linear channels (stored as exp(x/8)): x → 8·ln x. */
function logTable(): Uint16Array {
  if (!logCache) {
    logCache = new Uint16Array(65536);
    for (let x = 0; x < 65536; x++) {
      if ((x & 0x7c00) === 0x7c00 || x > 0x8000) continue; // inf/NaN, negative: 0
      logCache[x] = floatToHalf(8 * Math.fround(Math.log(halfToFloat(x))));
    }
  }
  return logCache;
}

function unpack14(b: Uint8Array, p: number, s: Uint16Array): void {
  s[0] = (b[p] << 8) | b[p + 1];
  const shift = b[p + 2] >> 2, bias = 0x20 << shift;
  // The 6-bit differences in bit order, and which sample each one steps from.
  const r = (i: number) => {
    const bit = 22 + 6 * i, byte = p + (bit >> 3), off = bit & 7;
    return (((b[byte] << 8) | (b[byte + 1] ?? 0)) >> (10 - off)) & 0x3f;
  };
  const step = (to: number, from: number, i: number) => {
    s[to] = (s[from] + (r(i) << shift) - bias) & 0xffff;
  };
  step(4, 0, 0);
  step(8, 4, 1);
  step(12, 8, 2);
  for (let col = 1; col < 4; col++) {
    for (let row = 0; row < 4; row++) {
      step(4 * row + col, 4 * row + col - 1, 3 + 4 * (col - 1) + row);
    }
  }
  for (let i = 0; i < 16; i++) s[i] = s[i] & 0x8000 ? s[i] & 0x7fff : ~s[i] & 0xffff;
}

function unpack3(b: Uint8Array, p: number, s: Uint16Array): void {
  const v = (b[p] << 8) | b[p + 1];
  s.fill(v & 0x8000 ? v & 0x7fff : ~v & 0xffff);
}
