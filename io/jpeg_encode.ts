// JPEG encoding: baseline sequential, 8-bit gray or YCbCr, 4:4:4 or 4:2:0, the Annex K
// quantisation tables under the IJG quality scaling, the Annex K Huffman tables, and an
// optional EXIF block carrying the exposure time. Every step is libjpeg's default, as cjpeg
// runs it: fixed-point RGB→YCbCr, 2×2 box downsampling with alternating rounding bias, edges
// replicated and the blocks past them filled as libjpeg fills them, the integer "islow"
// forward DCT, rounded quantisation. So a file is byte for byte what `cjpeg -quality Q
// -sample 2x2` (or 1x1) writes from the same 8-bit pixels; an EXIF block replaces the JFIF one.

import { CONST_BITS, decodeJpeg, PASS1_BITS, ZIGZAG } from "./jpeg.ts";
import { F0298, F0390, F0541, F0765, F0899, F1175 } from "./jpeg.ts";
import { F1501, F1847, F1961, F2053, F2562, F3072 } from "./jpeg.ts";
import type { Image } from "./image.ts";

export type Subsampling = "4:4:4" | "4:2:0";

export interface JpegOptions {
  /** 1–100 on the IJG scale (default 92). */
  quality?: number;
  /** Chroma resolution (default 4:2:0, as cjpeg's). Gray images have none. */
  subsampling?: Subsampling;
  /** Seconds, written as EXIF ExposureTime (what io/exif.ts reads back). */
  exposureTime?: number;
}

// ITU-T T.81 Annex K: quantisation tables (natural order) and Huffman tables (code counts by
// length 1–16, then symbols in code order), as libjpeg's jcparam.c and jstdhuff.c hold them.
const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (b) => parseInt(b, 16));
const LUMA_Q = hex(
  "100b0a101828333d0c0c0e131a3a3c370e0d1018283945380e11161d3357503e" +
    "12162538446d674d182337405168715c31404e5767797865485c5f6270646763",
);
const CHROMA_Q = hex(
  "1112182f6363636312151a4263636363181a3863636363632f42636363636363" + "63".repeat(32),
);
interface HuffSpec {
  counts: Uint8Array;
  symbols: Uint8Array;
}
const DC_LUMA: HuffSpec = {
  counts: hex("00010501010101010100000000000000"),
  symbols: hex("000102030405060708090a0b"),
};
const DC_CHROMA: HuffSpec = {
  counts: hex("00030101010101010101010000000000"),
  symbols: hex("000102030405060708090a0b"),
};
const AC_TAIL =
  "161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a" +
  "737475767778797a";
const AC_LUMA: HuffSpec = {
  counts: hex("0002010303020403050504040000017d"),
  symbols: hex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a" +
      AC_TAIL + "838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4" +
      "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa",
  ),
};
const AC_CHROMA: HuffSpec = {
  counts: hex("00020102040403040705040400010277"),
  symbols: hex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f1" +
      "1718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475" +
      "767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2" +
      "c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa",
  ),
};

/** Code and length per symbol (libjpeg's jpeg_make_c_derived_tbl). */
interface HuffCodes {
  code: Uint16Array;
  size: Uint8Array;
}
function huffCodes(h: HuffSpec): HuffCodes {
  const code = new Uint16Array(256), size = new Uint8Array(256);
  let c = 0, k = 0;
  for (let l = 1; l <= 16; l++, c <<= 1) {
    for (let i = 0; i < h.counts[l - 1]; i++, c++, k++) {
      code[h.symbols[k]] = c;
      size[h.symbols[k]] = l;
    }
  }
  return { code, size };
}
const CODES = {
  dcLuma: huffCodes(DC_LUMA),
  acLuma: huffCodes(AC_LUMA),
  dcChroma: huffCodes(DC_CHROMA),
  acChroma: huffCodes(AC_CHROMA),
};

/** libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline: entries ≤ 255). */
function scaledTable(base: Uint8Array, quality: number): Int32Array {
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - 2 * quality;
  return Int32Array.from(
    base,
    (b) => Math.min(Math.max(Math.floor((b * scale + 50) / 100), 1), 255),
  );
}

// RGB → YCbCr as libjpeg's jccolor.c: 16-bit fixed point, tables per input code.
const FIX = (x: number) => Math.floor(x * 65536 + 0.5);
const HALF = 1 << 15, CBCR_OFFSET = 128 << 16;
const Y_R = new Int32Array(256), Y_G = new Int32Array(256), Y_B = new Int32Array(256);
const CB_R = new Int32Array(256), CB_G = new Int32Array(256), HALF_B = new Int32Array(256);
const CR_G = new Int32Array(256), CR_B = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  Y_R[i] = FIX(0.299) * i;
  Y_G[i] = FIX(0.587) * i;
  Y_B[i] = FIX(0.114) * i + HALF;
  CB_R[i] = -FIX(0.16874) * i;
  CB_G[i] = -FIX(0.33126) * i;
  HALF_B[i] = FIX(0.5) * i + CBCR_OFFSET + HALF - 1; // B's share of Cb, R's share of Cr
  CR_G[i] = -FIX(0.41869) * i;
  CR_B[i] = -FIX(0.08131) * i;
}

/** A component's samples, padded to whole MCUs: `w`×`h` with `bw`×`bh` real blocks. */
interface Plane {
  data: Uint8Array;
  w: number;
  h: number;
  bw: number;
  bh: number;
}

/** Copies the last real column and row outwards to fill the plane (libjpeg's edge expansion). */
function replicateEdges(p: Plane, realW: number, realH: number): void {
  const { data, w, h } = p;
  for (let y = 0; y < realH; y++) data.fill(data[y * w + realW - 1], y * w + realW, (y + 1) * w);
  for (let y = realH; y < h; y++) data.copyWithin(y * w, (realH - 1) * w, realH * w);
}

/** An 8-bit code from a value in [0, 1]: Math.round of the clamped value times 255. */
const code = (v: number) => {
  const c = v * 255;
  return c >= 254.5 ? 255 : c > 0 ? (c + 0.5) | 0 : 0;
};

/** The image's 8-bit components: Y (or gray), then Cb and Cr at their resolution. */
function components(img: Image, sub: Subsampling, mcusX: number, mcusY: number): Plane[] {
  const { width: W, height: H, channels: ch, data } = img;
  const gray = ch < 3, full = sub === "4:4:4" || gray, f = full ? 1 : 2;
  const plane = (w: number, h: number, bw: number, bh: number): Plane => ({
    data: new Uint8Array(w * h),
    w,
    h,
    bw,
    bh,
  });
  const lw = mcusX * 8 * f, lh = mcusY * 8 * f;
  const luma = plane(lw, lh, Math.ceil(W / 8), Math.ceil(H / 8)), l = luma.data;
  if (gray) {
    for (let y = 0; y < H; y++) {
      for (let x = 0, i = y * W * ch; x < W; x++, i += ch) l[y * lw + x] = code(data[i]);
    }
    replicateEdges(luma, W, H);
    return [luma];
  }
  // Image row y into the luma plane and into Cb, Cr rows at `at`, their right edge replicated.
  const cw = mcusX * 8 * f;
  const convert = (y: number, cb: Uint8Array, cr: Uint8Array, at: number) => {
    for (let x = 0, i = y * W * ch, o = y * lw; x < W; x++, i += ch, o++) {
      const r = code(data[i]), g = code(data[i + 1]), b = code(data[i + 2]);
      l[o] = (Y_R[r] + Y_G[g] + Y_B[b]) >> 16;
      cb[at + x] = (CB_R[r] + CB_G[g] + HALF_B[b]) >> 16;
      cr[at + x] = (HALF_B[r] + CR_G[g] + CR_B[b]) >> 16;
    }
    cb.fill(cb[at + W - 1], at + W, at + cw);
    cr.fill(cr[at + W - 1], at + W, at + cw);
  };
  const cb = plane(mcusX * 8, mcusY * 8, 0, 0), cr = plane(cb.w, cb.h, 0, 0);
  if (full) {
    for (let y = 0; y < H; y++) convert(y, cb.data, cr.data, y * cw);
    [cb.bw, cb.bh, cr.bw, cr.bh] = [luma.bw, luma.bh, luma.bw, luma.bh];
  } else {
    // h2v2_downsample, a pair of rows at a time (the last row doubled when H is odd): each
    // output is the rounded mean of 2×2 samples, the bias alternating 1, 2 along x.
    const a = [new Uint8Array(cw), new Uint8Array(cw)],
      b = [new Uint8Array(cw), new Uint8Array(cw)];
    for (let y = 0; 2 * y < H; y++) {
      convert(2 * y, a[0], b[0], 0);
      if (2 * y + 1 < H) convert(2 * y + 1, a[1], b[1], 0);
      else [a[1], b[1]] = [a[0], b[0]];
      for (const [src, dst] of [[a, cb.data], [b, cr.data]] as const) {
        const [r0, r1] = src, o = y * cb.w;
        for (let x = 0; x < cb.w; x++) {
          dst[o + x] = (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] + 1 + (x & 1)) >> 2;
        }
      }
    }
    [cb.bw, cb.bh, cr.bw, cr.bh] = [mcusX, mcusY, mcusX, mcusY];
  }
  replicateEdges(luma, W, H);
  replicateEdges(cb, cb.w, full ? H : Math.ceil(H / 2));
  replicateEdges(cr, cr.w, full ? H : Math.ceil(H / 2));
  return [luma, cb, cr];
}

/** libjpeg's jpeg_fdct_islow on the level-shifted block at p[o] (stride w), into ws ×8. */
function fdct(p: Uint8Array, o: number, w: number, ws: Int32Array): void {
  for (let r = 0; r < 8; r++) {
    const i = o + r * w, d = r * 8;
    const d0 = p[i] - 128, d1 = p[i + 1] - 128, d2 = p[i + 2] - 128, d3 = p[i + 3] - 128;
    const d4 = p[i + 4] - 128, d5 = p[i + 5] - 128, d6 = p[i + 6] - 128, d7 = p[i + 7] - 128;
    fdct1d(ws, d, 1, d0, d1, d2, d3, d4, d5, d6, d7, PASS1_BITS, CONST_BITS - PASS1_BITS);
  }
  for (let c = 0; c < 8; c++) {
    fdct1d(
      ws,
      c,
      8,
      ws[c],
      ws[c + 8],
      ws[c + 16],
      ws[c + 24],
      ws[c + 32],
      ws[c + 40],
      ws[c + 48],
      ws[c + 56],
      -PASS1_BITS,
      CONST_BITS + PASS1_BITS,
    );
  }
}

/**
 * One 1-D pass: outputs to ws[at + k·st]. The DC and 4th terms are scaled by 2^up (a
 * descale when negative), the others descaled by 2^down.
 */
function fdct1d(
  ws: Int32Array,
  at: number,
  st: number,
  d0: number,
  d1: number,
  d2: number,
  d3: number,
  d4: number,
  d5: number,
  d6: number,
  d7: number,
  up: number,
  down: number,
): void {
  const t0 = d0 + d7, t7 = d0 - d7, t1 = d1 + d6, t6 = d1 - d6;
  const t2 = d2 + d5, t5 = d2 - d5, t3 = d3 + d4, t4 = d3 - d4;
  const t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
  const r = 1 << (down - 1);
  if (up >= 0) {
    ws[at] = (t10 + t11) << up;
    ws[at + 4 * st] = (t10 - t11) << up;
  } else {
    ws[at] = (t10 + t11 + (1 << (-up - 1))) >> -up;
    ws[at + 4 * st] = (t10 - t11 + (1 << (-up - 1))) >> -up;
  }
  const z1 = (t12 + t13) * F0541;
  ws[at + 2 * st] = (z1 + t13 * F0765 + r) >> down;
  ws[at + 6 * st] = (z1 - t12 * F1847 + r) >> down;
  const z5 = (t4 + t6 + t5 + t7) * F1175;
  const y1 = (t4 + t7) * -F0899, y2 = (t5 + t6) * -F2562;
  const y3 = (t4 + t6) * -F1961 + z5, y4 = (t5 + t7) * -F0390 + z5;
  ws[at + 7 * st] = (t4 * F0298 + y1 + y3 + r) >> down;
  ws[at + 5 * st] = (t5 * F2053 + y2 + y4 + r) >> down;
  ws[at + 3 * st] = (t6 * F3072 + y2 + y3 + r) >> down;
  ws[at + st] = (t7 * F1501 + y1 + y4 + r) >> down;
}

/** Entropy-coded bytes, 0xFF stuffed with 0x00, in a buffer that grows as needed. */
class BitWriter {
  out: Uint8Array;
  n = 0;
  private acc = 0;
  private bits = 0;
  constructor(size: number) {
    this.out = new Uint8Array(size);
  }
  /** The low `len` (≤ 16) bits of `v`. */
  put(v: number, len: number): void {
    this.acc = (this.acc << len) | (v & ((1 << len) - 1));
    this.bits += len;
    while (this.bits >= 8) {
      this.bits -= 8;
      const byte = (this.acc >> this.bits) & 255;
      if (this.n + 2 > this.out.length) this.grow();
      this.out[this.n++] = byte;
      if (byte === 0xff) this.out[this.n++] = 0;
    }
  }
  bytes(b: ArrayLike<number>): void {
    while (this.n + b.length > this.out.length) this.grow();
    this.out.set(b, this.n);
    this.n += b.length;
  }
  /** Pads the last byte with 1 bits, as libjpeg does. */
  flush(): void {
    if (this.bits) this.put(0x7f, 8 - this.bits);
  }
  private grow(): void {
    const bigger = new Uint8Array(this.out.length * 2);
    bigger.set(this.out.subarray(0, this.n));
    this.out = bigger;
  }
}

/** One block's Huffman codes (libjpeg's encode_one_block); q holds the quantised block. */
function encodeBlock(w: BitWriter, q: Int32Array, pred: number, dc: HuffCodes, ac: HuffCodes) {
  let t = q[0] - pred, t2 = t < 0 ? t - 1 : t;
  if (t < 0) t = -t;
  let nbits = 0;
  while (t) {
    nbits++;
    t >>= 1;
  }
  w.put(dc.code[nbits], dc.size[nbits]);
  if (nbits) w.put(t2, nbits);
  let run = 0;
  for (let k = 1; k < 64; k++) {
    t = q[ZIGZAG[k]];
    if (t === 0) {
      run++;
      continue;
    }
    for (; run > 15; run -= 16) w.put(ac.code[0xf0], ac.size[0xf0]);
    t2 = t < 0 ? t - 1 : t;
    if (t < 0) t = -t;
    nbits = 1;
    while ((t >>= 1)) nbits++;
    const s = (run << 4) | nbits;
    w.put(ac.code[s], ac.size[s]);
    w.put(t2, nbits);
    run = 0;
  }
  if (run > 0) w.put(ac.code[0], ac.size[0]);
}

const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const segment = (
  marker: number,
  body: number[],
) => [0xff, marker, ...be16(body.length + 2), ...body];

/** APP1 "Exif": IFD0 pointing to an Exif IFD holding ExposureTime as a rational. */
function exifSegment(seconds: number): number[] {
  const le16 = (v: number) => [v & 255, (v >> 8) & 255];
  const le32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
  // 1/n for the usual shutter speeds, n/1 for long ones, else nanoseconds or microseconds.
  let den = seconds < 1 ? 1e9 : 1e6, num = Math.round(seconds * den);
  if (seconds < 1 && Math.abs(1 / seconds - Math.round(1 / seconds)) < 1e-6) {
    [num, den] = [1, Math.round(1 / seconds)];
  } else if (Number.isInteger(seconds)) [num, den] = [seconds, 1];
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  const g = gcd(num, den);
  const tiff = [
    ...[0x49, 0x49, 42, 0, ...le32(8)],
    ...[...le16(1), ...le16(0x8769), ...le16(4), ...le32(1), ...le32(26), ...le32(0)],
    ...[...le16(1), ...le16(0x829a), ...le16(5), ...le32(1), ...le32(44), ...le32(0)],
    ...le32(num / g),
    ...le32(den / g),
  ];
  return segment(0xe1, [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff]);
}

/**
 * A baseline JPEG of the image: gray for 1 or 2 channels, YCbCr for 3 or 4 (alpha is
 * dropped); values in [0, 1] become 8-bit codes as the PNG and TIFF writers round them.
 */
export function encodeJpeg(img: Image, o: JpegOptions = {}): Uint8Array {
  const quality = Math.round(o.quality ?? 92), sub = o.subsampling ?? "4:2:0";
  if (!(quality >= 1 && quality <= 100)) {
    throw new Error(`encodeJpeg: quality must be 1–100, got ${o.quality}`);
  }
  if (!(img.channels >= 1 && img.channels <= 4)) {
    throw new Error(`encodeJpeg: cannot write ${img.channels} channels`);
  }
  if (img.width > 65535 || img.height > 65535 || img.width < 1 || img.height < 1) {
    throw new Error(`encodeJpeg: ${img.width}x${img.height} is outside JPEG's 1–65535`);
  }
  const t = o.exposureTime;
  if (t !== undefined && !(t > 0 && t < 4294)) {
    throw new Error(`encodeJpeg: exposure time must be in (0, 4294) s, got ${t}`);
  }
  const gray = img.channels < 3, f = gray || sub === "4:4:4" ? 1 : 2;
  const mcusX = Math.ceil(img.width / (8 * f)), mcusY = Math.ceil(img.height / (8 * f));
  const planes = components(img, sub, mcusX, mcusY);
  const qLuma = scaledTable(LUMA_Q, quality), qChroma = scaledTable(CHROMA_Q, quality);
  const zig = (q: Int32Array) => Array.from(ZIGZAG, (n) => q[n]);
  const dht = (cls: number, id: number, h: HuffSpec) =>
    segment(0xc4, [(cls << 4) | id, ...h.counts, ...h.symbols]);
  const comps = gray ? [0] : [0, 1, 2];
  const head = [
    0xff,
    0xd8,
    ...(t === undefined
      ? segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
      : exifSegment(t)),
    ...segment(0xdb, [0, ...zig(qLuma)]),
    ...(gray ? [] : segment(0xdb, [1, ...zig(qChroma)])),
    ...segment(0xc0, [
      8,
      ...be16(img.height),
      ...be16(img.width),
      comps.length,
      ...comps.flatMap((c) => [c + 1, c ? 0x11 : f * 0x11, c ? 1 : 0]),
    ]),
    ...dht(0, 0, DC_LUMA),
    ...dht(1, 0, AC_LUMA),
    ...(gray ? [] : [...dht(0, 1, DC_CHROMA), ...dht(1, 1, AC_CHROMA)]),
    ...segment(0xda, [comps.length, ...comps.flatMap((c) => [c + 1, c ? 0x11 : 0]), 0, 63, 0]),
  ];
  const w = new BitWriter(head.length + (img.width * img.height) / 2 + 1024);
  w.bytes(head);
  // Divisors: the forward DCT's output is 8× the coefficient (libjpeg's islow scaling).
  const divisors = [qLuma, qChroma].map((q) => q.map((v) => 8 * v));
  const ws = new Int32Array(64), qb = new Int32Array(64);
  const preds = [0, 0, 0];
  const hv = gray ? 1 : f; // Y's blocks per MCU in each direction
  for (let my = 0; my < mcusY; my++) {
    for (let mx = 0; mx < mcusX; mx++) {
      for (const c of comps) {
        const p = planes[c], n = c ? 1 : hv, div = divisors[c ? 1 : 0];
        const dc = c ? CODES.dcChroma : CODES.dcLuma, ac = c ? CODES.acChroma : CODES.acLuma;
        let last = preds[c];
        for (let v = 0; v < n; v++) {
          for (let h = 0; h < n; h++) {
            const bx = mx * n + h, by = my * n + v;
            if (bx < p.bw && by < p.bh) {
              fdct(p.data, by * 8 * p.w + bx * 8, p.w, ws);
              for (let i = 0; i < 64; i++) {
                const x = ws[i], d = div[i], r = d >> 1;
                qb[i] = x < 0 ? -(((r - x) / d) | 0) : ((x + r) / d) | 0;
              }
            } else {
              // Past the edge: libjpeg's dummy blocks, flat, with the DC of the block
              // before (left of it in the MCU, or ending the row above).
              const dcBefore = qb[0];
              qb.fill(0);
              qb[0] = dcBefore;
            }
            encodeBlock(w, qb, last, dc, ac);
            last = qb[0];
          }
        }
        preds[c] = last;
      }
    }
  }
  w.flush();
  w.bytes([0xff, 0xd9]);
  return w.out.slice(0, w.n);
}

/**
 * The image as a JPEG at `quality` would show it: encoded, then decoded by io/jpeg.ts
 * (compression artefacts for synthetic brackets). Alpha, if any, is dropped.
 */
export function jpegRoundTrip(img: Image, quality: number, subsampling: Subsampling = "4:2:0") {
  return decodeJpeg(encodeJpeg(img, { quality, subsampling }), "JPEG round trip");
}
