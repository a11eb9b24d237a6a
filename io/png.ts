// PNG: every colour type (gray, RGB, palette, gray+alpha, RGBA) at every legal bit depth,
// Adam7 interlacing, CRC-checked chunks. Palette images expand to RGB (RGBA when tRNS gives
// alpha); a gray/RGB tRNS colour key is ignored. Writing: 8- or 16-bit gray/RGB/RGBA.

import { ByteReader } from "./bytes.ts";
import { checkHolds, checkSize, type DecodeOptions, type Image, newImage } from "./image.ts";
import { deflate, inflate, ZLIB_MAX_RATIO } from "./zlib.ts";

/** The eight bytes every PNG file opens with. */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
// Adam7 passes: x0, y0, dx, dy
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
  0,
  1,
  1,
  2,
]];

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

export function isPng(bytes: Uint8Array): boolean {
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export function decodePng(bytes: Uint8Array, file: string, o: DecodeOptions = {}): Image {
  const r: ByteReader = new ByteReader(bytes, file, false);
  if (!isPng(bytes)) r.fail("not a PNG file");
  r.pos = 8;
  let width = 0, height = 0, depth = 0, type = -1, interlace = 0;
  let palette: Uint8Array | null = null, trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  for (;;) {
    const len = r.u32(), typeAt = r.pos;
    const name = String.fromCharCode(...r.slice(typeAt, 4, "chunk type"));
    const body = r.slice(typeAt + 4, len, `${name} chunk`);
    const crc = r.u32(typeAt + 4 + len);
    if (crc32(r.slice(typeAt, 4 + len)) ^ 0xffffffff ^ crc) {
      r.fail(`${name} chunk fails its CRC check`);
    }
    r.pos = typeAt + 8 + len;
    if (name === "IHDR") {
      const h = new ByteReader(body, file, false);
      width = h.u32(0);
      height = h.u32(4);
      depth = h.u8(8);
      type = h.u8(9);
      interlace = h.u8(12);
      checkSize(file, width, height, o);
      if (!(type in CHANNELS) || !DEPTHS[type].includes(depth)) {
        r.fail(`invalid colour type ${type} with bit depth ${depth}`);
      }
      if (h.u8(10) !== 0 || h.u8(11) !== 0 || interlace > 1) {
        r.fail("unknown compression, filter or interlace method");
      }
    } else if (name === "PLTE") palette = body;
    else if (name === "tRNS") trns = body;
    else if (name === "IDAT") idat.push(body);
    else if (name === "IEND") break;
    else if (type < 0) r.fail(`${name} chunk before IHDR`);
  }
  if (type < 0) r.fail("no IHDR chunk");
  if (idat.length === 0) r.fail("no image data (IDAT)");
  if (type === 3 && !palette) r.fail("palette image without a PLTE chunk");

  const spp = CHANNELS[type];
  const bpp = Math.max(1, (spp * depth) >> 3); // filter unit in bytes
  const rowBytes = (w: number) => Math.ceil((w * spp * depth) / 8);
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
    if (pw > 0 && ph > 0) total += ph * (1 + rowBytes(pw));
  }
  const compressed = new Uint8Array(idat.reduce((n, c) => n + c.length, 0));
  checkHolds(file, width, height, total / ZLIB_MAX_RATIO, compressed.length, "zlib data");
  idat.reduce((at, c) => (compressed.set(c, at), at + c.length), 0);
  const raw = inflate(compressed, total, file, "image data");
  if (raw.length < total) r.fail(`image data holds ${raw.length} of ${total} bytes`);

  const hasAlpha = type === 4 || type === 6 || (type === 3 && trns !== null);
  const outCh = type === 3 ? (hasAlpha ? 4 : 3) : spp;
  const img = newImage(width, height, outCh, type === 3 ? 8 : depth);
  const maxv = (1 << depth) - 1;
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rb = rowBytes(pw);
    let prev = new Uint8Array(rb), cur = new Uint8Array(rb);
    for (let y = 0; y < ph; y++) {
      const filter = raw[at];
      cur.set(raw.subarray(at + 1, at + 1 + rb));
      at += 1 + rb;
      unfilter(filter, cur, prev, bpp, r);
      const iy = y0 + y * dy;
      for (let x = 0; x < pw; x++) {
        const d = (iy * width + x0 + x * dx) * outCh;
        for (let k = 0; k < spp; k++) {
          const v = sample(cur, x * spp + k, depth);
          if (type === 3) {
            if (v * 3 + 2 >= palette!.length) r.fail(`palette index ${v} out of range`);
            for (let c = 0; c < 3; c++) img.data[d + c] = palette![v * 3 + c] / 255;
            if (hasAlpha) img.data[d + 3] = (v < trns!.length ? trns![v] : 255) / 255;
          } else img.data[d + k] = v / maxv;
        }
      }
      [prev, cur] = [cur, prev];
    }
  }
  return img;
}

function sample(row: Uint8Array, i: number, depth: number): number {
  if (depth === 8) return row[i];
  if (depth === 16) return (row[2 * i] << 8) | row[2 * i + 1];
  const perByte = 8 / depth, byte = row[Math.floor(i / perByte)];
  const shift = 8 - depth * (1 + (i % perByte));
  return (byte >> shift) & ((1 << depth) - 1);
}

function unfilter(f: number, cur: Uint8Array, prev: Uint8Array, bpp: number, r: ByteReader): void {
  const n = cur.length;
  switch (f) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) cur[i] = (cur[i] + cur[i - bpp]) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = (cur[i] + prev[i]) & 0xff;
      return;
    case 3:
      for (let i = 0; i < n; i++) {
        cur[i] = (cur[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
      }
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        cur[i] = (cur[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
      return;
    default:
      r.fail(`invalid row filter ${f}`);
  }
}

function chunk(name: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  out.set(new TextEncoder().encode(name), 4);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)) ^ 0xffffffff);
  return out;
}

/** PNG of an image with 1–4 channels at 8 or 16 bits (values clipped to [0, 1]). */
export async function encodePng(img: Image, depth: 8 | 16 = 8): Promise<Uint8Array> {
  const { width, height, channels } = img;
  const type = [0, 0, 4, 2, 6][channels];
  if (!(channels >= 1 && channels <= 4)) {
    throw new Error(`encodePng: cannot write ${channels} channels`);
  }
  const bps = depth / 8, stride = width * channels * bps;
  const raw = new Uint8Array(height * (1 + stride));
  const maxv = depth === 8 ? 255 : 65535;
  const row = new Uint8Array(stride), prevRow = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) {
      const v = Math.round(Math.min(Math.max(img.data[y * width * channels + i], 0), 1) * maxv);
      if (depth === 8) row[i] = v;
      else {
        row[2 * i] = v >> 8;
        row[2 * i + 1] = v & 0xff;
      }
    }
    // Filter "Up" for every row after the first: cheap and usually smaller than none.
    const o = y * (1 + stride);
    raw[o] = y === 0 ? 0 : 2;
    for (let i = 0; i < stride; i++) raw[o + 1 + i] = (row[i] - (y === 0 ? 0 : prevRow[i])) & 0xff;
    prevRow.set(row);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([depth, type, 0, 0, 0], 8);
  const parts = [
    new Uint8Array(PNG_SIGNATURE),
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
