// TIFF's own compressions: LZW (MSB-first codes, 9–12 bits, "early change") and PackBits.
// Both decoders stop at `expected` output bytes (data past it, e.g. a last strip padded to
// whole rows, is ignored as libtiff ignores it) and fail on codes that cannot occur.

import { ImageError } from "./image.ts";

export function lzwDecode(src: Uint8Array, expected: number, file: string): Uint8Array {
  const out = new Uint8Array(expected);
  // Dictionary as prefix links: entry = (prefix code, last byte, length).
  const prefix = new Int32Array(4096), suffix = new Uint8Array(4096), len = new Int32Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    len[i] = 1;
  }
  let next = 258, width = 9, old = -1, o = 0;
  let bitBuf = 0, bitCount = 0, pos = 0;
  const emit = (code: number): number => {
    // Writes the string for `code` at o (what fits); returns its first byte.
    const n = len[code];
    let c = code, first = 0;
    for (let i = n - 1; i >= 0; i--) {
      first = suffix[c];
      if (o + i < expected) out[o + i] = first;
      c = prefix[c];
    }
    o = Math.min(o + n, expected);
    return first;
  };
  for (;;) {
    while (bitCount < width) {
      if (pos >= src.length) return o === expected ? out : fail(file, "truncated LZW data");
      bitBuf = ((bitBuf << 8) | src[pos++]) >>> 0;
      bitCount += 8;
    }
    const code = (bitBuf >>> (bitCount - width)) & ((1 << width) - 1);
    bitCount -= width;
    bitBuf &= (1 << bitCount) - 1;
    if (code === 257) break; // EOI
    if (code === 256) { // clear
      next = 258;
      width = 9;
      old = -1;
      continue;
    }
    if (old === -1) {
      if (code > 255) fail(file, "corrupt LZW data (first code after a clear is not a literal)");
      emit(code);
      old = code;
      continue;
    }
    let first: number;
    if (code < next) {
      first = emit(code);
    } else if (code === next) {
      first = emit(old);
      if (o < expected) out[o++] = first;
    } else return fail(file, `corrupt LZW data (code ${code} before it was defined)`);
    if (next < 4096) {
      prefix[next] = old;
      suffix[next] = first;
      len[next] = len[old] + 1;
      next++;
    }
    if (next + 1 >= 1 << width && width < 12) width++;
    old = code;
    if (o === expected) return out;
  }
  return o === expected ? out : fail(file, `LZW data ends after ${o} of ${expected} bytes`);
}

export function packBitsDecode(src: Uint8Array, expected: number, file: string): Uint8Array {
  const out = new Uint8Array(expected);
  let i = 0, o = 0;
  while (o < expected) {
    if (i >= src.length) fail(file, "truncated PackBits data");
    const n = (src[i++] << 24) >> 24;
    if (n >= 0) {
      if (i + n + 1 > src.length || o + n + 1 > expected) fail(file, "corrupt PackBits run");
      out.set(src.subarray(i, i + n + 1), o);
      i += n + 1;
      o += n + 1;
    } else if (n !== -128) {
      if (i >= src.length || o + 1 - n > expected) fail(file, "corrupt PackBits run");
      out.fill(src[i++], o, o + 1 - n);
      o += 1 - n;
    }
  }
  return out;
}

function fail(file: string, problem: string): never {
  throw new ImageError(file, problem);
}
