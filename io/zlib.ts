// zlib. Inflation is our own (RFC 1950/1951), not the runtime's stream, because readers need
// what that stream cannot give: it stops at the size the container promised, so a bomb cannot
// grow memory; it ends at the stream's final block, so padding after it (which libtiff and
// libpng accept) is no error; and it runs synchronously. Deflation uses the runtime's stream.

import { ImageError } from "./image.ts";

/** Deflate's densest case: a 258-byte match costs at least 2 bits, about 1032:1. */
export const ZLIB_MAX_RATIO = 1032;

const LEN_BASE = [
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  13,
  15,
  17,
  19,
  23,
  27,
  31,
  35,
  43,
  51,
  59,
  67,
  83,
  99,
  115,
  131,
  163,
  195,
  227,
  258,
];
const LEN_EXTRA = [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
  1,
  1,
  1,
  2,
  2,
  2,
  2,
  3,
  3,
  3,
  3,
  4,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  0,
];
const DIST_BASE = [
  1,
  2,
  3,
  4,
  5,
  7,
  9,
  13,
  17,
  25,
  33,
  49,
  65,
  97,
  129,
  193,
  257,
  385,
  513,
  769,
  1025,
  1537,
  2049,
  3073,
  4097,
  6145,
  8193,
  12289,
  16385,
  24577,
];
const DIST_EXTRA = [
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Decoding table indexed by the next `bits` input bits: symbol << 4 | code length (0: no code). */
interface Table {
  t: Int32Array;
  bits: number;
}

function buildTable(lengths: Uint8Array, fail: (p: string) => never): Table {
  const count = new Int32Array(16);
  for (const l of lengths) count[l]++;
  count[0] = 0;
  let left = 1, bits = 0;
  for (let l = 1; l < 16; l++) {
    left = 2 * left - count[l];
    if (left < 0) fail("over-subscribed Huffman code");
    if (count[l]) bits = l;
  }
  // zlib accepts an incomplete code only when it is a single 1-bit code.
  if (left > 0 && bits > 1) fail("incomplete Huffman code");
  const next = new Int32Array(16);
  for (let l = 1, code = 0; l < 16; l++) {
    code = (code + count[l - 1]) << 1;
    next[l] = code;
  }
  const t = new Int32Array(1 << bits);
  for (let sym = 0; sym < lengths.length; sym++) {
    const l = lengths[sym];
    if (!l) continue;
    let c = next[l]++, rev = 0;
    for (let i = 0; i < l; i++, c >>= 1) rev = (rev << 1) | (c & 1);
    for (let i = rev; i < t.length; i += 1 << l) t[i] = (sym << 4) | l;
  }
  return { t, bits };
}

let fixed: [Table, Table] | undefined;
function fixedTables(fail: (p: string) => never): [Table, Table] {
  if (!fixed) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixed = [buildTable(l, fail), buildTable(new Uint8Array(32).fill(5), fail)];
  }
  return fixed;
}

/**
 * Inflates a zlib stream into at most `maxBytes` bytes: decoding stops there (the caller
 * compares the length it needs), or at the final block, whatever follows its checksum.
 */
export function inflate(
  src: Uint8Array,
  maxBytes: number,
  file: string,
  what = "zlib data",
): Uint8Array {
  const fail = (p: string): never => {
    throw new ImageError(file, `corrupt ${what} (${p})`);
  };
  if (src.length < 2) fail("truncated");
  if ((src[0] & 15) !== 8 || ((src[0] << 8) | src[1]) % 31 || src[1] & 0x20) {
    fail("bad zlib header");
  }
  const out = new Uint8Array(maxBytes);
  const end = src.length;
  let pos = 2, bb = 0, bc = 0, o = 0;
  const need = (n: number) => {
    while (bc < n) {
      if (pos >= end + 4) fail("truncated");
      bb |= (pos < end ? src[pos] : 0) << bc;
      pos++;
      bc += 8;
    }
  };
  const take = (n: number): number => {
    need(n);
    const v = bb & ((1 << n) - 1);
    bb >>>= n;
    bc -= n;
    return v;
  };
  const decode = (tab: Table): number => {
    need(tab.bits);
    const e = tab.t[bb & ((1 << tab.bits) - 1)], l = e & 15;
    if (!l) fail("invalid Huffman code");
    bb >>>= l;
    bc -= l;
    return e >> 4;
  };
  let last = 0, cut = false;
  blocks: while (!last) {
    last = take(1);
    const type = take(2);
    if (type === 0) {
      bb = 0;
      pos -= bc >> 3; // whole bytes still buffered go back to the input
      bc = 0;
      if (pos + 4 > end) fail("truncated");
      const len = src[pos] | (src[pos + 1] << 8), nlen = src[pos + 2] | (src[pos + 3] << 8);
      if ((len ^ 0xffff) !== nlen) fail("stored block length check");
      pos += 4;
      const n = Math.min(len, maxBytes - o);
      if (pos + n > end) fail("truncated");
      out.set(src.subarray(pos, pos + n), o);
      o += n;
      pos += len;
      cut = n < len;
      if (cut) break;
      continue;
    }
    let lit: Table, dist: Table;
    if (type === 1) [lit, dist] = fixedTables(fail);
    else if (type === 2) {
      const hlit = take(5) + 257, hdist = take(5) + 1, hclen = take(4) + 4;
      const cl = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) cl[CL_ORDER[i]] = take(3);
      const clt = buildTable(cl, fail);
      const lens = new Uint8Array(hlit + hdist);
      for (let i = 0; i < lens.length;) {
        const sym = decode(clt);
        if (sym < 16) lens[i++] = sym;
        else {
          let rep: number, v = 0;
          if (sym === 16) {
            if (i === 0) fail("repeat with no previous length");
            v = lens[i - 1];
            rep = 3 + take(2);
          } else rep = sym === 17 ? 3 + take(3) : 11 + take(7);
          if (i + rep > lens.length) fail("code lengths overrun");
          lens.fill(v, i, i + rep);
          i += rep;
        }
      }
      if (!lens[256]) fail("no end-of-block code");
      lit = buildTable(lens.subarray(0, hlit), fail);
      dist = buildTable(lens.subarray(hlit), fail);
    } else return fail("invalid block type");
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        if ((cut = o >= maxBytes)) break blocks;
        out[o++] = sym;
        continue;
      }
      if (sym === 256) break;
      if (sym > 285) fail("invalid length code");
      const len = LEN_BASE[sym - 257] + take(LEN_EXTRA[sym - 257]);
      const ds = decode(dist);
      if (ds > 29) fail("invalid distance code");
      const d = DIST_BASE[ds] + take(DIST_EXTRA[ds]);
      if (d > o) fail("distance before the start");
      const n = Math.min(len, maxBytes - o);
      for (let i = 0; i < n; i++, o++) out[o] = out[o - d];
      if ((cut = n < len)) break blocks;
    }
  }
  if (!cut) { // the Adler-32 checksum follows, from the next byte boundary
    const at = pos - (bc >> 3);
    if (at + 4 > end) fail("truncated");
    const want = ((src[at] << 24) | (src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3]) >>> 0;
    if (adler32(out, o) !== want) fail("checksum mismatch");
  }
  return o === maxBytes ? out : out.subarray(0, o);
}

function adler32(b: Uint8Array, n: number): number {
  let a = 1, s = 0;
  for (let i = 0; i < n;) {
    for (const stop = Math.min(n, i + 5552); i < stop; i++) s += a += b[i];
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

export async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate");
  const out = new Response(cs.readable).arrayBuffer();
  const writer = cs.writable.getWriter();
  await writer.write(data as Uint8Array<ArrayBuffer>);
  await writer.close();
  return new Uint8Array(await out);
}
