// OpenEXR PIZ decompression: a bitmap of the 16-bit values used, Huffman-coded wavelet
// coefficients (with a run-length symbol), a 2-D Haar-like wavelet per channel, and the
// reverse lookup table that maps the dense values back. Follows OpenEXR's ImfPiz /
// ImfHuf / ImfWav. The bit buffer is kept as an exact float (codes may exceed 32 bits).

import { type Chunk, planarToRaw } from "./exr_chunk.ts";
import { ImageError } from "./image.ts";

const BITMAP_SIZE = 8192;
const ENC_SIZE = 65537;
const DEC_BITS = 14;
const DEC_SIZE = 1 << DEC_BITS;
const SHORT_ZEROCODE_RUN = 59;
const LONG_ZEROCODE_RUN = 63;
const SHORTEST_LONG_RUN = 2 + LONG_ZEROCODE_RUN - SHORT_ZEROCODE_RUN;
const MAX_CODE_LEN = 45; // keeps the float bit buffer exact

const pow2 = (n: number) => 2 ** n;

class Bits {
  c = 0; // the lc buffered bits, as an integer < 2^lc
  lc = 0;
  constructor(
    readonly src: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly fail: (p: string) => never,
  ) {}
  fill(): void {
    if (this.pos >= this.end) this.fail("truncated Huffman data");
    this.c = this.c * 256 + this.src[this.pos++];
    this.lc += 8;
  }
  /** Takes n bits (n ≤ lc). */
  take(n: number): number {
    this.lc -= n;
    const d = pow2(this.lc);
    const v = Math.floor(this.c / d);
    this.c -= v * d;
    return v;
  }
  read(n: number): number {
    while (this.lc < n) this.fill();
    return this.take(n);
  }
}

export function pizDecode(data: Uint8Array, chunk: Chunk, file: string): Uint8Array {
  const fail = (p: string): never => {
    throw new ImageError(file, `corrupt PIZ chunk (${p})`);
  };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (at: number, n: number) => at + n <= data.length || fail("truncated");
  need(0, 4);
  const minNz = dv.getUint16(0, true), maxNz = dv.getUint16(2, true);
  if (maxNz >= BITMAP_SIZE) fail("bitmap range");
  const bitmap = new Uint8Array(BITMAP_SIZE);
  let pos = 4;
  if (minNz <= maxNz) {
    need(pos, maxNz - minNz + 1);
    bitmap.set(data.subarray(pos, pos + maxNz - minNz + 1), minNz);
    pos += maxNz - minNz + 1;
  }
  const lut = new Uint16Array(65536);
  let k = 0;
  for (let i = 0; i < 65536; i++) if (i === 0 || bitmap[i >> 3] & (1 << (i & 7))) lut[k++] = i;
  const maxValue = k - 1;
  need(pos, 4);
  const length = dv.getUint32(pos, true);
  pos += 4;
  need(pos, length);
  const buf = new Uint16Array(chunk.size / 2);
  hufUncompress(data, pos, length, buf, fail);

  let start = 0;
  for (const c of chunk.channels) {
    const size = c.bytes / 2; // 16-bit words per sample
    for (let j = 0; j < size; j++) {
      wav2Decode(buf, start + j, c.nx, size, c.ny, c.nx * size, maxValue);
    }
    start += c.nx * c.ny * size;
  }
  if (start !== buf.length) fail("channel sizes do not fill the chunk");
  for (let i = 0; i < buf.length; i++) buf[i] = lut[buf[i]];
  // Words are native-endian here; the raw layout is little-endian.
  const planar = new Uint8Array(chunk.size);
  const pv = new DataView(planar.buffer);
  for (let i = 0; i < buf.length; i++) pv.setUint16(2 * i, buf[i], true);
  return planarToRaw(planar, chunk);
}

/**
 * OpenEXR's Huffman decoder (ImfHuf), shared by PIZ and DWA (its AC values): fills `out`
 * from n bytes at `at`.
 */
export function hufUncompress(
  src: Uint8Array,
  at: number,
  n: number,
  out: Uint16Array,
  fail: (p: string) => never,
): void {
  if (n < 20) fail("Huffman header");
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const im = dv.getUint32(at, true),
    iM = dv.getUint32(at + 4, true),
    nBits = dv.getUint32(at + 12, true);
  if (im >= ENC_SIZE || iM >= ENC_SIZE || im > iM) fail("Huffman symbol range");
  const end = at + n;
  const bits = new Bits(src, at + 20, end, fail);
  // Code lengths, with runs of zeros.
  const len = new Uint8Array(ENC_SIZE);
  for (let i = im; i <= iM; i++) {
    const l = bits.read(6);
    if (l === LONG_ZEROCODE_RUN || l >= SHORT_ZEROCODE_RUN) {
      const run = l === LONG_ZEROCODE_RUN
        ? bits.read(8) + SHORTEST_LONG_RUN
        : l - SHORT_ZEROCODE_RUN + 2;
      if (i + run > iM + 1) fail("code-length run");
      i += run - 1; // zeros already
    } else len[i] = l;
  }
  if (nBits > 8 * (end - bits.pos)) fail("bit count exceeds the data");
  // Canonical codes: longer codes take the smaller values, as OpenEXR assigns them.
  const count = new Float64Array(59);
  for (let i = im; i <= iM; i++) count[len[i]]++;
  const next = new Float64Array(59);
  let c = 0;
  for (let l = 58; l > 0; l--) {
    next[l] = c;
    c = Math.floor((c + count[l]) / 2);
  }
  const code = new Float64Array(ENC_SIZE);
  const decLen = new Uint8Array(DEC_SIZE), decSym = new Int32Array(DEC_SIZE);
  const longs: number[][] = [];
  for (let i = im; i <= iM; i++) {
    const l = len[i];
    if (!l) continue;
    if (l > MAX_CODE_LEN) fail(`code length ${l}`);
    code[i] = next[l]++;
    if (code[i] >= pow2(l)) fail("code table");
    if (l > DEC_BITS) {
      const idx = Math.floor(code[i] / pow2(l - DEC_BITS));
      if (decLen[idx]) fail("code table");
      (longs[idx] ??= []).push(i);
    } else {
      const base = code[i] * pow2(DEC_BITS - l);
      for (let t = 0; t < pow2(DEC_BITS - l); t++) {
        if (decLen[base + t] || longs[base + t]) fail("code table");
        decLen[base + t] = l;
        decSym[base + t] = i;
      }
    }
  }
  // Decoding; symbol iM is the run-length code: the next 8 bits repeat the previous value.
  const d = new Bits(src, bits.pos, bits.pos + Math.ceil(nBits / 8), fail);
  let o = 0;
  const emit = (sym: number) => {
    if (sym === iM) {
      if (d.lc < 8) d.fill();
      const run = d.take(8);
      if (o === 0 || o + run > out.length) fail("run-length symbol");
      out.fill(out[o - 1], o, o + run);
      o += run;
    } else {
      if (o >= out.length) fail("more symbols than pixels");
      out[o++] = sym;
    }
  };
  while (d.pos < d.end) {
    d.fill();
    while (d.lc >= DEC_BITS) {
      const idx = Math.floor(d.c / pow2(d.lc - DEC_BITS));
      if (decLen[idx]) {
        d.take(decLen[idx]);
        emit(decSym[idx]);
        continue;
      }
      const cands = longs[idx];
      if (!cands) fail("invalid code");
      let found = false;
      for (const sym of cands) {
        const l = len[sym];
        while (d.lc < l && d.pos < d.end) d.fill();
        if (d.lc >= l && Math.floor(d.c / pow2(d.lc - l)) === code[sym]) {
          d.take(l);
          emit(sym);
          found = true;
          break;
        }
      }
      if (!found) fail("invalid long code");
    }
  }
  // The last byte's padding bits are not data.
  const pad = (8 - nBits) & 7;
  d.take(0);
  d.c = Math.floor(d.c / pow2(pad));
  d.lc -= pad;
  while (d.lc > 0) {
    const idx = d.c * pow2(DEC_BITS - d.lc);
    if (idx >= DEC_SIZE || !decLen[idx] || decLen[idx] > d.lc) fail("invalid final code");
    d.take(decLen[idx]);
    emit(decSym[idx]);
  }
  if (o !== out.length) fail(`${o} of ${out.length} values decoded`);
}

/** OpenEXR's 2-D wavelet inverse over one channel's words (stride ox along x, oy along y). */
function wav2Decode(
  buf: Uint16Array,
  j: number,
  nx: number,
  ox: number,
  ny: number,
  oy: number,
  mx: number,
): void {
  const w14 = mx < 1 << 14;
  const n = Math.min(nx, ny);
  let p = 1;
  while (p <= n) p <<= 1;
  p >>= 1;
  let p2 = p;
  p >>= 1;
  // wdec returns the pair through these.
  let a = 0, b = 0;
  const dec = (l: number, h: number) => {
    if (w14) {
      const ls = (l << 16) >> 16, hs = (h << 16) >> 16;
      const ai = ls + (hs & 1) + (hs >> 1);
      a = ai & 0xffff;
      b = (ai - hs) & 0xffff;
    } else {
      const bb = (l - (h >> 1)) & 0xffff;
      a = (h + bb - 0x8000) & 0xffff;
      b = bb;
    }
  };
  while (p >= 1) {
    let py = j;
    const ey = j + oy * (ny - p2);
    const oy1 = oy * p, oy2 = oy * p2, ox1 = ox * p, ox2 = ox * p2;
    for (; py <= ey; py += oy2) {
      let px = py;
      const ex = py + ox * (nx - p2);
      for (; px <= ex; px += ox2) {
        const p01 = px + ox1, p10 = px + oy1, p11 = p10 + ox1;
        dec(buf[px], buf[p10]);
        const i00 = a, i10 = b;
        dec(buf[p01], buf[p11]);
        const i01 = a, i11 = b;
        dec(i00, i01);
        buf[px] = a;
        buf[p01] = b;
        dec(i10, i11);
        buf[p10] = a;
        buf[p11] = b;
      }
      if (nx & p) {
        const p10 = px + oy1;
        dec(buf[px], buf[p10]);
        buf[px] = a;
        buf[p10] = b;
      }
    }
    if (ny & p) {
      let px = py;
      const ex = py + ox * (nx - p2);
      for (; px <= ex; px += ox2) {
        const p01 = px + ox1;
        dec(buf[px], buf[p01]);
        buf[px] = a;
        buf[p01] = b;
      }
    }
    p2 = p;
    p >>= 1;
  }
}
