// TIFF baseline plus what cameras and ImageMagick write: 8/16-bit unsigned and 32-bit float
// samples; gray, gray+alpha, RGB, RGBA; chunky or planar; strips or tiles; no compression,
// LZW, Deflate or PackBits; horizontal predictor. The first image of the file is read.
// Writing produces an uncompressed 8- or 16-bit RGB TIFF in strips of 64 rows.

import { ByteReader } from "./bytes.ts";
import { checkSize, type Image, ImageError, newImage } from "./image.ts";
import { lzwDecode, packBitsDecode } from "./tiff_compression.ts";
import { inflate } from "./zlib.ts";

const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  16: 8,
};
const MAX_ENTRIES = 4096;

type Tags = Map<number, number[]>;

function readIfd(r: ByteReader, at: number): Tags {
  const n = r.u16(at);
  if (n > MAX_ENTRIES) r.fail(`IFD has ${n} entries`);
  const tags: Tags = new Map();
  for (let i = 0; i < n; i++) {
    const e = at + 2 + 12 * i;
    const tag = r.u16(e), type = r.u16(e + 2), count = r.u32(e + 4);
    const size = TYPE_SIZE[type];
    if (!size) continue; // unknown types are skipped, as the spec asks
    const bytes = size * count;
    if (count > 1 << 24) r.fail(`tag ${tag} claims ${count} values`);
    const base = bytes <= 4 ? e + 8 : r.u32(e + 8);
    r.need(base, bytes, `tag ${tag}`);
    const vals: number[] = [];
    for (let k = 0; k < count; k++) {
      const p = base + k * size;
      switch (type) {
        case 3:
        case 8:
          vals.push(r.u16(p));
          break;
        case 4:
        case 9:
          vals.push(r.u32(p));
          break;
        case 5:
          vals.push(r.u32(p) / (r.u32(p + 4) || 1));
          break;
        case 11:
          vals.push(r.f32(p));
          break;
        case 12:
          vals.push(r.f64(p));
          break;
        case 16:
          vals.push(r.u64(p));
          break;
        default:
          vals.push(r.u8(p));
      }
    }
    tags.set(tag, vals);
  }
  return tags;
}

export async function decodeTiff(bytes: Uint8Array, file: string): Promise<Image> {
  const r: ByteReader = new ByteReader(bytes, file);
  const order = r.u16(0);
  if (order === 0x4949) r.little = true;
  else if (order === 0x4d4d) r.little = false;
  else r.fail("not a TIFF file (bad byte-order mark)");
  const magic = r.u16(2);
  if (magic === 43) r.fail("BigTIFF is not supported");
  if (magic !== 42) r.fail("not a TIFF file (bad magic number)");
  const tags = readIfd(r, r.u32(4));
  const one = (tag: number, def?: number): number => {
    const v = tags.get(tag)?.[0] ?? def;
    if (v === undefined) r.fail(`missing required tag ${tag}`);
    return v;
  };
  const width = one(256), height = one(257);
  checkSize(file, width, height, bytes.length);
  const spp = one(277, 1);
  const bitsList = tags.get(258) ?? [1];
  const bits = bitsList[0];
  if (bitsList.some((b) => b !== bits)) r.fail(`mixed bit depths ${bitsList.join("/")}`);
  const format = one(339, 1);
  if (!((format === 1 && (bits === 8 || bits === 16)) || (format === 3 && bits === 32))) {
    r.fail(
      `unsupported sample format: ${bits}-bit ${
        format === 3 ? "float" : format === 2 ? "signed" : "unsigned"
      } (8/16-bit unsigned or 32-bit float are read)`,
    );
  }
  const photometric = one(262, spp >= 3 ? 2 : 1);
  if (photometric !== 1 && photometric !== 2 && photometric !== 0) {
    r.fail(`unsupported photometric interpretation ${photometric} (gray and RGB are read)`);
  }
  if (spp < 1 || spp > 4 || (photometric === 2 && spp < 3)) {
    r.fail(`unsupported ${spp} samples per pixel`);
  }
  const compression = one(259, 1);
  const predictor = one(317, 1);
  if (predictor !== 1 && !(predictor === 2 && format === 1)) {
    r.fail(`unsupported predictor ${predictor}`);
  }
  const planar = one(284, 1) === 2;
  const bps = bits / 8;

  const tiled = tags.has(322);
  const tw = tiled ? one(322) : width;
  const th = tiled ? one(323) : Math.min(one(278, height), height);
  if (tw < 1 || th < 1) r.fail("invalid tile or strip size");
  const offsets = tags.get(tiled ? 324 : 273), counts = tags.get(tiled ? 325 : 279);
  if (!offsets) r.fail(`missing ${tiled ? "tile" : "strip"} offsets`);
  const across = Math.ceil(width / tw), down = Math.ceil(height / th);
  const planes = planar ? spp : 1;
  if (offsets.length < across * down * planes) {
    r.fail(`has ${offsets.length} ${tiled ? "tiles" : "strips"}, needs ${across * down * planes}`);
  }
  const blockSpp = planar ? 1 : spp;
  const rowBytes = tw * blockSpp * bps;

  const img = newImage(width, height, spp, bits);
  const scale = format === 3 ? 1 : 1 / (bits === 8 ? 255 : 65535);
  for (let p = 0; p < planes; p++) {
    for (let by = 0; by < down; by++) {
      for (let bx = 0; bx < across; bx++) {
        const idx = p * across * down + by * across + bx;
        // Strips: the last one may hold fewer rows.
        const rows = tiled ? th : Math.min(th, height - by * th);
        const expected = rowBytes * rows;
        const count = counts?.[idx] ?? expected;
        const raw = r.slice(offsets[idx], count, `${tiled ? "tile" : "strip"} ${idx}`);
        const block = await decompress(compression, raw, expected, file);
        if (block.length < expected) {
          r.fail(`${tiled ? "tile" : "strip"} ${idx} holds ${block.length} of ${expected} bytes`);
        }
        const samples = readSamples(block, bits, format, r.little, expected / bps);
        if (predictor === 2) undoPredictor(samples, tw, rows, blockSpp, bits);
        for (let y = 0; y < rows; y++) {
          const iy = by * th + y;
          if (iy >= height) break;
          for (let x = 0; x < tw; x++) {
            const ix = bx * tw + x;
            if (ix >= width) break;
            const s = (y * tw + x) * blockSpp, d = (iy * width + ix) * spp;
            if (planar) img.data[d + p] = samples[s] * scale;
            else for (let k = 0; k < spp; k++) img.data[d + k] = samples[s + k] * scale;
          }
        }
      }
    }
  }
  if (photometric === 0) {
    for (let i = 0; i < img.data.length; i += spp) img.data[i] = 1 - img.data[i];
  }
  return img;
}

async function decompress(
  kind: number,
  raw: Uint8Array,
  expected: number,
  file: string,
): Promise<Uint8Array> {
  switch (kind) {
    case 1:
      return raw;
    case 5:
      return lzwDecode(raw, expected, file);
    case 8:
    case 32946:
      return await inflate(raw, expected, file, "Deflate strip");
    case 32773:
      return packBitsDecode(raw, expected, file);
    default:
      throw new ImageError(
        file,
        `unsupported TIFF compression ${kind} (none, LZW, Deflate and PackBits are read)`,
      );
  }
}

function readSamples(
  block: Uint8Array,
  bits: number,
  format: number,
  little: boolean,
  n: number,
): Float32Array | Uint16Array | Uint8Array {
  if (bits === 8) return block.subarray(0, n);
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (format === 3) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, little);
    return out;
  }
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, little);
  return out;
}

/** Horizontal differencing, undone per row and sample, modulo the sample width. */
function undoPredictor(
  s: Float32Array | Uint16Array | Uint8Array,
  w: number,
  rows: number,
  spp: number,
  bits: number,
): void {
  const mask = bits === 8 ? 0xff : 0xffff;
  for (let y = 0; y < rows; y++) {
    const o = y * w * spp;
    for (let i = spp; i < w * spp; i++) s[o + i] = (s[o + i] + s[o + i - spp]) & mask;
  }
}

/** Uncompressed RGB TIFF (values clipped to [0, 1] and scaled to the bit depth's range). */
export function encodeTiff(img: Image, bits: 8 | 16 = 16): Uint8Array {
  if (img.channels !== 3) throw new Error(`encodeTiff: needs 3 channels, got ${img.channels}`);
  const { width, height } = img;
  const rowsPerStrip = 64, strips = Math.ceil(height / rowsPerStrip);
  const entries = 11;
  const ifdAt = 8, ifdSize = 2 + entries * 12 + 4;
  const bitsAt = ifdAt + ifdSize, offsetsAt = bitsAt + 6, countsAt = offsetsAt + 4 * strips;
  const dataAt = countsAt + 4 * strips;
  const px = 3 * (bits / 8); // bytes per pixel
  const out = new Uint8Array(dataAt + width * height * px);
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  dv.setUint32(4, ifdAt, true);
  dv.setUint16(ifdAt, entries, true);
  const tag = (i: number, t: number, type: number, count: number, value: number) => {
    const e = ifdAt + 2 + 12 * i;
    dv.setUint16(e, t, true);
    dv.setUint16(e + 2, type, true);
    dv.setUint32(e + 4, count, true);
    if (type === 3 && count === 1) dv.setUint16(e + 8, value, true);
    else dv.setUint32(e + 8, value, true);
  };
  tag(0, 256, 4, 1, width);
  tag(1, 257, 4, 1, height);
  tag(2, 258, 3, 3, bitsAt);
  tag(3, 259, 3, 1, 1);
  tag(4, 262, 3, 1, 2);
  tag(5, 273, 4, strips, strips === 1 ? dataAt : offsetsAt);
  tag(6, 277, 3, 1, 3);
  tag(7, 278, 4, 1, rowsPerStrip);
  tag(8, 279, 4, strips, strips === 1 ? Math.min(rowsPerStrip, height) * width * px : countsAt);
  tag(9, 284, 3, 1, 1);
  tag(10, 339, 3, 1, 1);
  for (let k = 0; k < 3; k++) dv.setUint16(bitsAt + 2 * k, bits, true);
  for (let s = 0; s < strips; s++) {
    const rows = Math.min(rowsPerStrip, height - s * rowsPerStrip);
    dv.setUint32(offsetsAt + 4 * s, dataAt + s * rowsPerStrip * width * px, true);
    dv.setUint32(countsAt + 4 * s, rows * width * px, true);
  }
  for (let i = 0; i < width * height * 3; i++) {
    const v = Math.round(Math.min(Math.max(img.data[i], 0), 1) * (bits === 8 ? 255 : 65535));
    if (bits === 8) out[dataAt + i] = v;
    else dv.setUint16(dataAt + 2 * i, v, true);
  }
  return out;
}
