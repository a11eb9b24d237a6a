// OpenEXR DWAA/DWAB (lossy DCT) decompression, as OpenEXR 3.1's ImfDwaCompressor decodes it on
// x86-64. A chunk starts with eleven little-endian 64-bit counts (version; UNKNOWN raw and
// zlib sizes; AC, DC and RLE compressed sizes; RLE raw sizes; AC and DC value counts; the AC
// coder) and, from version 2, the channel rules (a name suffix, a pixel type, a scheme and a
// Y′CbCr slot). Rules sort channels by the suffix after their last '.': LOSSY_DCT (R,G,B,
// Y,RY,BY), RLE (A) or UNKNOWN (anything else, zlib). R,G,B sharing a prefix are one Y′CbCr
// set. LOSSY_DCT data is 8×8 blocks of half coefficients: DC values (zlib, with ZIP's byte
// predictor) and run-length-coded AC values in zig-zag order (OpenEXR's Huffman coder, as PIZ
// uses, or zlib); each block is inverse-DCT'd in float, converted to R′G′B′, rounded to half
// and mapped to linear light through a table built from OpenEXR's formula. FLOAT channels come
// back as those halves widened. The inverse DCT follows the AVX path OpenEXR takes on x86-64
// CPUs with AVX (its constants, operation order and zero-row shortcuts), since that is what
// the library we compare against decodes; its scalar path (other CPUs) rounds differently in
// the last bit of some values.

import { type Chunk, type ChunkChannel, hasLine } from "./exr_chunk.ts";
import { rleDecode, unpredict } from "./exr_compression.ts";
import { hufUncompress } from "./exr_piz.ts";
import { floatToHalf, halfToFloat } from "./half.ts";
import { ImageError } from "./image.ts";
import { inflate, ZLIB_MAX_RATIO } from "./zlib.ts";

const UNKNOWN = 0, LOSSY_DCT = 1, RLE = 2;
const STATIC_HUFFMAN = 0, DEFLATE = 1;
const HEADER = 88; // eleven 64-bit counts

interface Rule {
  suffix: string;
  scheme: number;
  type: number;
  csc: number; // Y′CbCr slot (0 R, 1 G, 2 B) or -1
  anyCase: boolean;
}

/** The rules of files before version 2, which did not store theirs. */
const LEGACY_RULES: Rule[] = [
  ...[["r", "red"], ["g", "grn", "green"], ["b", "blu", "blue"]].flatMap((names, csc) =>
    names.flatMap((suffix) => [1, 2].map((type) => ({ suffix, scheme: LOSSY_DCT, type, csc })))
  ),
  ...["y", "by", "ry"].flatMap((suffix) =>
    [1, 2].map((type) => ({ suffix, scheme: LOSSY_DCT, type, csc: -1 }))
  ),
  ...[0, 1, 2].map((type) => ({ suffix: "a", scheme: RLE, type, csc: -1 })),
].map((r) => ({ ...r, anyCase: true }));

const latin1 = new TextDecoder("latin1");
const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Channel sampling, which the chunk layout does not carry. */
export interface Sampling {
  xs: number;
  ys: number;
}

interface Parsed {
  counts: number[]; // the eleven header counts
  at: number; // where the sections start, after the rules
  scheme: number[]; // per channel
  lossy: number[][]; // LOSSY_DCT decoders in data order: R,G,B sets by prefix, then channels
}

const failer = (file: string, chunk: Chunk) => (p: string): never => {
  throw new ImageError(file, `corrupt DWA chunk at line ${chunk.y0} (${p})`);
};

/** The chunk's header and rules, and the channels' schemes and decoders, as OpenEXR sorts them. */
function parse(
  data: Uint8Array,
  chunk: Chunk,
  sampling: Sampling[],
  fail: (p: string) => never,
): Parsed {
  if (data.length < HEADER) fail("truncated header");
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // Counts past 2^31 cannot fit in a chunk; the high words must be zero.
  const counts = Array.from({ length: 11 }, (_, i) => {
    const lo = dv.getUint32(8 * i, true), hi = dv.getInt32(8 * i + 4, true);
    if (hi !== 0 || lo > 0x7fffffff) fail(`count ${i} out of range`);
    return lo;
  });
  const version = counts[0];
  if (version > 2) fail(`version ${version}`);
  let at = HEADER;
  let rules = LEGACY_RULES;
  if (version === 2) {
    if (at + 2 > data.length) fail("truncated rules");
    let ruleSize = dv.getUint16(at, true);
    if (ruleSize < 2) fail("rule size");
    if (at + ruleSize > data.length) fail("truncated rules");
    at += 2;
    ruleSize -= 2;
    rules = [];
    while (ruleSize > 0) {
      const end = data.subarray(at, at + Math.min(ruleSize, 256)).indexOf(0);
      if (end < 0 || end + 3 > ruleSize) fail("truncated rule");
      const suffix = latin1.decode(data.subarray(at, at + end));
      const v = data[at + end + 1], type = data[at + end + 2];
      const csc = (v >> 4) - 1, scheme = (v >> 2) & 3;
      if (csc > 2) fail("rule's colour slot");
      if (scheme > RLE) fail("rule's scheme");
      if (type > 2) fail("rule's pixel type");
      // A stored suffix is compared as it is (OpenEXR lowercases the suffixes of its built-in
      // rules only), with the channel's suffix lowercased when the rule ignores case.
      rules.push({ suffix, scheme, type, csc, anyCase: (v & 1) !== 0 });
      at += end + 3;
      ruleSize -= end + 3;
    }
  }

  // Schemes and Y′CbCr sets, as OpenEXR classifies channels: the last matching rule wins;
  // sets are taken in the order of their prefixes.
  const chs = chunk.channels;
  const scheme = chs.map(() => UNKNOWN);
  const prefixes = new Map<string, number[]>();
  chs.forEach((c, i) => {
    const dot = c.name.lastIndexOf(".");
    const prefix = dot < 0 ? "" : c.name.slice(0, dot), suffix = c.name.slice(dot + 1);
    if (!prefixes.has(prefix)) prefixes.set(prefix, [-1, -1, -1]);
    for (const r of rules) {
      if (r.type === c.type && (r.anyCase ? lower(suffix) : suffix) === r.suffix) {
        scheme[i] = r.scheme;
        if (r.csc >= 0) prefixes.get(prefix)![r.csc] = i;
      }
    }
  });
  const sets = [...prefixes.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((p) => prefixes.get(p)!)
    .filter((s) =>
      s.every((i) => i >= 0) &&
      s.every((i) => sampling[i].xs === sampling[s[0]].xs && sampling[i].ys === sampling[s[0]].ys)
    );
  const inSet = new Set(sets.flat());
  for (const i of inSet) if (scheme[i] !== LOSSY_DCT) fail("R,G,B set not all LOSSY_DCT");
  const lossy: number[][] = [
    ...sets,
    ...chs.flatMap((_, i) => (scheme[i] === LOSSY_DCT && !inSet.has(i) ? [[i]] : [])),
  ];
  for (const g of lossy) for (const i of g) if (chs[i].type === 0) fail("LOSSY_DCT UINT channel");
  return { counts, at, scheme, lossy };
}

const blocks = (c: ChunkChannel) => Math.ceil(c.nx / 8) * Math.ceil(c.ny / 8);
const bytesOf = (chunk: Chunk, scheme: number[], s: number) =>
  chunk.channels.reduce((n, c, i) => n + (scheme[i] === s ? c.nx * c.ny * c.bytes : 0), 0);

/**
 * The fewest bytes a valid DWA chunk with this layout can have, by its header and rules (for
 * bomb checks before any allocation): the header, the rules, and for each 8×8 block a DC and
 * at least one AC value at zlib's best ratio (2 bytes per 1032:1; Huffman's best, 9 bits per
 * 255 values, is worse); RLE data at RLE's 64:1 then zlib's; UNKNOWN data at zlib's.
 */
export function dwaMinBytes(
  data: Uint8Array,
  chunk: Chunk,
  sampling: Sampling[],
  file: string,
): number {
  const { at, scheme, lossy } = parse(data, chunk, sampling, failer(file, chunk));
  const n = lossy.reduce((n, g) => n + g.length * blocks(chunk.channels[g[0]]), 0);
  return at + (4 * n + bytesOf(chunk, scheme, RLE) / 64 + bytesOf(chunk, scheme, UNKNOWN)) /
      ZLIB_MAX_RATIO;
}

/**
 * Decodes one DWA chunk into the raw layout (exr_chunk.ts). `sampling` gives each channel's
 * x/y sampling, in the chunk's channel order.
 */
export function dwaDecode(
  data: Uint8Array,
  chunk: Chunk,
  sampling: Sampling[],
  file: string,
): Uint8Array {
  const fail = failer(file, chunk);
  const { counts, scheme, lossy, ...p } = parse(data, chunk, sampling, fail);
  let at = p.at;
  const [
    ,
    unknownRaw,
    unknownSize,
    acSize,
    dcSize,
    rleSize,
    rleRaw,
    rleBytes,
    acCount,
    dcCount,
    acCoder,
  ] = counts;
  if (at + unknownSize + acSize + dcSize + rleSize > data.length) fail("truncated data");
  const chs = chunk.channels;

  // What the chunk needs, before anything is allocated: the counts must match it.
  const dcNeed = lossy.reduce((n, g) => n + g.length * blocks(chs[g[0]]), 0);
  const unknownNeed = bytesOf(chunk, scheme, UNKNOWN), rleNeed = bytesOf(chunk, scheme, RLE);
  if (dcCount !== dcNeed) fail(`${dcCount} DC values for ${dcNeed} blocks`);
  if (acCount > 63 * dcNeed) fail(`${acCount} AC values for ${dcNeed} blocks`);
  if (unknownRaw !== unknownNeed || (unknownNeed > 0 && unknownSize === 0)) {
    fail(`${unknownRaw} bytes of UNKNOWN data for ${unknownNeed}`);
  }
  if (rleBytes !== rleNeed) fail(`${rleBytes} bytes of RLE data for ${rleNeed}`);
  if (rleRaw > 2 * rleNeed) fail("RLE size");
  if (dcNeed > 0 && dcSize === 0) fail("no DC data");

  // The sections: UNKNOWN, AC, DC, RLE.
  const section = (n: number) => data.subarray(at, at += n);
  const exactly = (src: Uint8Array, n: number, what: string) => {
    const out = inflate(src, n + 1, file, `DWA ${what} data`);
    if (out.length !== n) fail(`${what} data holds ${out.length} of ${n} bytes`);
    return out;
  };
  const unknownData = unknownSize > 0
    ? exactly(section(unknownSize), unknownNeed, "UNKNOWN")
    : null;
  const acAt = at;
  section(acSize);
  let ac = new Uint16Array(0);
  if (acSize > 0) {
    if (dcNeed === 0) fail("AC data without LOSSY_DCT channels");
    ac = new Uint16Array(acCount);
    if (acCoder === STATIC_HUFFMAN) hufUncompress(data, acAt, acSize, ac, fail);
    else if (acCoder === DEFLATE) {
      const b = exactly(data.subarray(acAt, acAt + acSize), 2 * acCount, "AC");
      for (let i = 0; i < acCount; i++) ac[i] = b[2 * i] | (b[2 * i + 1] << 8);
    } else fail(`AC compression ${acCoder}`);
  }
  const dcData = dcSize > 0 ? unpredict(exactly(section(dcSize), 2 * dcCount, "DC")) : null;
  const dc = new Uint16Array(dcCount);
  for (let i = 0; i < dcCount; i++) dc[i] = dcData![2 * i] | (dcData![2 * i + 1] << 8);
  let rle: Uint8Array | null = null;
  if (rleNeed > 0) {
    rle = rleDecode(exactly(section(rleSize), rleRaw, "RLE"), rleNeed, file);
    if (rle.length !== rleNeed) fail(`RLE data holds ${rle.length} of ${rleNeed} bytes`);
  }

  // Where each channel's rows start in the raw layout.
  const out = new Uint8Array(chunk.size);
  const ov = new DataView(out.buffer);
  const rows: number[][] = chs.map(() => []);
  let o = 0;
  for (let l = 0; l < chunk.lines; l++) {
    chs.forEach((c, i) => {
      if (!hasLine(c, chunk.y0 + l)) return;
      rows[i].push(o);
      o += c.nx * c.bytes;
    });
  }

  const lut = toLinear();
  const pos = { ac: 0, dc: 0 };
  for (const g of lossy) {
    // Y′CbCr sets always go through the table; single channels unless perceptually linear.
    const map = g.length === 3 || !chs[g[0]].pLinear ? lut : null;
    decodeLossy(g.map((i) => chs[i]), g.map((i) => rows[i]), ac, dc, pos, map, ov, fail);
  }
  let rleAt = 0, unknownAt = 0;
  chs.forEach((c, i) => {
    const n = c.nx * c.ny;
    if (scheme[i] === RLE) {
      // Byte planes: every sample's first byte, then every second byte, ...
      for (let y = 0; y < c.ny; y++) {
        for (let x = 0; x < c.nx; x++) {
          for (let b = 0; b < c.bytes; b++) {
            out[rows[i][y] + c.bytes * x + b] = rle![rleAt + b * n + y * c.nx + x];
          }
        }
      }
      rleAt += n * c.bytes;
    } else if (scheme[i] === UNKNOWN) {
      for (let y = 0; y < c.ny; y++) {
        out.set(unknownData!.subarray(unknownAt, unknownAt + c.nx * c.bytes), rows[i][y]);
        unknownAt += c.nx * c.bytes;
      }
    }
  });
  return out;
}

let linearCache: Uint16Array | undefined;

/**
 * OpenEXR's dwaCompressorToLinear, from the formula its generator (dwaLookups.cpp) uses:
 * x ↦ x^2.2 for |x| ≤ 1, (e^2.2)^(|x|-1) above, sign kept, in float, rounded to half;
 * infinities and NaNs map to 0. Equal to the library's table for all 65536 inputs.
 */
export function toLinear(): Uint16Array {
  if (!linearCache) {
    const f = Math.fround;
    const logBase = f(Math.pow(2.7182818, 2.2)), gamma = f(2.2);
    linearCache = new Uint16Array(65536);
    for (let i = 1; i < 65536; i++) {
      if ((i & 0x7c00) === 0x7c00) continue;
      const h = halfToFloat(i), a = Math.abs(h), sign = h < 0 ? -1 : 1;
      const v = a <= 1 ? f(Math.pow(a, gamma)) : f(Math.pow(logBase, f(a - 1)));
      linearCache[i] = floatToHalf(sign * v);
    }
  }
  return linearCache;
}

/** Zig-zag position of each coefficient, in row-major order. */
// deno-fmt-ignore
const ZIGZAG = [
  0, 1, 5, 6, 14, 15, 27, 28,
  2, 4, 7, 13, 16, 26, 29, 42,
  3, 8, 12, 17, 25, 30, 41, 43,
  9, 11, 18, 24, 31, 40, 44, 53,
  10, 19, 23, 32, 39, 45, 52, 54,
  20, 22, 33, 38, 46, 51, 55, 60,
  21, 34, 37, 47, 50, 56, 59, 61,
  35, 36, 48, 49, 57, 58, 62, 63,
];

/**
 * One LOSSY_DCT decoder (a channel, or an R,G,B set as Y′,Cb,Cr): 8×8 blocks left to right,
 * top to bottom; within a block each component's DC (component-planar) and AC values (in
 * turn). Writes halfs through `map` (or floats for FLOAT channels) into the rows.
 */
function decodeLossy(
  comps: ChunkChannel[],
  rows: number[][],
  ac: Uint16Array,
  dc: Uint16Array,
  pos: { ac: number; dc: number },
  map: Uint16Array | null,
  out: DataView,
  fail: (p: string) => never,
): void {
  const f = Math.fround;
  const { nx: width, ny: height } = comps[0];
  const bx = Math.ceil(width / 8), by = Math.ceil(height / 8), n = comps.length;
  const zig = new Uint16Array(64);
  const dct = comps.map(() => new Float32Array(64));
  const halfs = comps.map(() => new Uint16Array(64 * bx));
  const dcAt = pos.dc;
  for (let y = 0; y < by; y++) {
    for (let x = 0; x < bx; x++) {
      let constant = true;
      for (let k = 0; k < n; k++) {
        zig.fill(0);
        zig[0] = dc[dcAt + k * bx * by + y * bx + x];
        // AC run-length symbols: 0xff00 ends the block, 0xffNN skips NN zeros.
        let i = 1, last = 0;
        while (i < 64) {
          if (pos.ac >= ac.length) fail("AC data ends early");
          const v = ac[pos.ac++];
          if (v === 0xff00) i = 64;
          else if (v >> 8 === 0xff) i += v & 0xff;
          else {
            last = i;
            zig[i++] = v;
          }
        }
        const d = dct[k];
        if (last === 0) d.fill(f(f(halfToFloat(zig[0]) * A) * A));
        else {
          constant = false;
          for (let j = 0; j < 64; j++) d[j] = halfToFloat(zig[ZIGZAG[j]]);
          // Rows that start past the last coefficient are zero.
          let zeroed = 0;
          while (zeroed < 7 && last < ROW_START[6 - zeroed]) zeroed++;
          idct(d, zeroed);
        }
      }
      const m = constant ? 1 : 64;
      if (n === 3) {
        // Y′CbCr → R′G′B′ (Rec. 709), in OpenEXR's SSE2 operation order.
        const [r, g, b] = dct;
        for (let j = 0; j < m; j++) {
          const yy = r[j], cb = g[j], cr = b[j];
          r[j] = f(yy + f(cr * CR_R));
          g[j] = f(f(f(cb * CB_G) + yy) + f(cr * CR_G));
          b[j] = f(f(CB_B * cb) + yy);
        }
      }
      for (let k = 0; k < n; k++) {
        const h = halfs[k], d = dct[k];
        if (constant) h.fill(floatToHalf(d[0]), 64 * x, 64 * x + 64);
        else for (let j = 0; j < 64; j++) h[64 * x + j] = floatToHalf(d[j]);
      }
    }
    // Unblock this row of blocks into the channel rows, through the table.
    for (let k = 0; k < n; k++) {
      const h = halfs[k], float = comps[k].type === 2;
      for (let yy = 8 * y; yy < Math.min(8 * y + 8, height); yy++) {
        const row = rows[k][yy];
        for (let xx = 0; xx < width; xx++) {
          const v = h[64 * (xx >> 3) + 8 * (yy & 7) + (xx & 7)], lin = map ? map[v] : v;
          if (float) out.setFloat32(row + 4 * xx, halfToFloat(lin), true);
          else out.setUint16(row + 2 * xx, lin, true);
        }
      }
    }
  }
  pos.dc += n * bx * by;
}

/** The zig-zag index at which each of rows 1 to 7 starts. */
const ROW_START = [2, 3, 9, 10, 20, 21, 35];

// Y′CbCr → R′G′B′ coefficients (float).
const CR_R = Math.fround(1.5747),
  CB_G = Math.fround(-0.1873),
  CR_G = Math.fround(-0.4682),
  CB_B = Math.fround(1.8556);

// The AVX inverse DCT's constants, as float: a = cos(4π/16)/2, and b to g = cos(kπ/16)/2 for
// k = 1, 2, 3, 5, 6, 7.
const A = Math.fround(3.535536e-01),
  B = Math.fround(4.903927e-01),
  C = Math.fround(4.619398e-01),
  D = Math.fround(4.157349e-01),
  E = Math.fround(2.777855e-01),
  F = Math.fround(1.913422e-01),
  G = Math.fround(9.754573e-02);

/**
 * OpenEXR's dctInverse8x8_avx<zeroedRows>, in place, in float: rows (the even and odd halves
 * as 4×4 matrix products summed pairwise), then columns; the terms of the last `zeroed`
 * (all-zero) rows are left out, as its assembly does.
 */
function idct(d: Float32Array, zeroed: number): void {
  const f = Math.fround, on = 8 - zeroed;
  for (let r = 0; r < on; r++) {
    const p = 8 * r;
    const x0 = d[p], x1 = d[p + 1], x2 = d[p + 2], x3 = d[p + 3];
    const x4 = d[p + 4], x5 = d[p + 5], x6 = d[p + 6], x7 = d[p + 7];
    const e0 = f(f(f(x0 * A) + f(x2 * C)) + f(f(x4 * A) + f(x6 * F)));
    const e1 = f(f(f(x0 * A) + f(x2 * F)) + f(f(x4 * -A) + f(x6 * -C)));
    const e2 = f(f(f(x0 * A) + f(x2 * -F)) + f(f(x4 * -A) + f(x6 * C)));
    const e3 = f(f(f(x0 * A) + f(x2 * -C)) + f(f(x4 * A) + f(x6 * -F)));
    const o0 = f(f(f(x1 * B) + f(x3 * D)) + f(f(x5 * E) + f(x7 * G)));
    const o1 = f(f(f(x1 * D) + f(x3 * -G)) + f(f(x5 * -B) + f(x7 * -E)));
    const o2 = f(f(f(x1 * E) + f(x3 * -B)) + f(f(x5 * G) + f(x7 * D)));
    const o3 = f(f(f(x1 * G) + f(x3 * -E)) + f(f(x5 * D) + f(x7 * -B)));
    d[p] = e0 + o0;
    d[p + 1] = e1 + o1;
    d[p + 2] = e2 + o2;
    d[p + 3] = e3 + o3;
    d[p + 4] = e3 - o3;
    d[p + 5] = e2 - o2;
    d[p + 6] = e1 - o1;
    d[p + 7] = e0 - o0;
  }
  if (zeroed === 7) {
    // Only the first row: every output row is it times a.
    for (let c = 0; c < 8; c++) {
      const v = f(d[c] * A);
      for (let r = 0; r < 8; r++) d[8 * r + c] = v;
    }
    return;
  }
  for (let c = 0; c < 8; c++) {
    const r0 = d[c], r1 = d[8 + c], r2 = d[16 + c], r3 = d[24 + c];
    const r4 = d[32 + c], r5 = d[40 + c], r6 = d[48 + c], r7 = d[56 + c];
    // Odd outputs (rows 1, 3, 5, 7), each term present only if its row is.
    let o0 = f(r1 * B), o1 = f(r1 * D), o2 = f(r1 * E), o3 = f(r1 * G);
    if (on > 3) {
      o0 = f(o0 + f(r3 * D));
      o2 = f(o2 - f(r3 * B));
      if (on > 5) {
        o0 = f(o0 + (on > 7 ? f(f(r5 * E) + f(r7 * G)) : f(r5 * E)));
        o1 = f(o1 - f(f(r3 * G) + f(r5 * B)));
        o2 = f(o2 + f(r5 * G));
        o3 = f(o3 + f(r5 * D));
      } else o1 = f(o1 - f(r3 * G));
      if (on > 7) {
        o1 = f(o1 - f(r7 * E));
        o2 = f(o2 + f(r7 * D));
        o3 = f(o3 - f(f(r7 * B) + f(r3 * E)));
      } else o3 = f(o3 - f(r3 * E));
    }
    // Even outputs (rows 0, 2, 4, 6).
    let s = f(r0 * A), t = s;
    if (on > 4) {
      const a4 = f(r4 * A);
      s = f(s + a4);
      t = f(t - a4);
    }
    let e0 = s, e3 = s, e1 = t, e2 = t;
    if (on > 2) {
      const u = on > 6 ? f(f(r2 * C) + f(r6 * F)) : f(r2 * C);
      const v = on > 6 ? f(f(r2 * F) - f(r6 * C)) : f(r2 * F);
      e0 = f(s + u);
      e3 = f(s - u);
      e1 = f(t + v);
      e2 = f(t - v);
    }
    d[c] = e0 + o0;
    d[8 + c] = e1 + o1;
    d[16 + c] = e2 + o2;
    d[24 + c] = e3 + o3;
    d[32 + c] = e3 - o3;
    d[40 + c] = e2 - o2;
    d[48 + c] = e1 - o1;
    d[56 + c] = e0 - o0;
  }
}
