// TIFF baseline plus what cameras, ImageMagick and OpenCV write: 8/16-bit unsigned and 32-bit
// float samples; gray, gray+alpha, RGB, RGBA; chunky or planar; strips or tiles; no
// compression, LZW, Deflate or PackBits; horizontal and floating-point predictors; SGI LogLuv
// (tiff_logluv.ts). The first image of the file is read.
// Writing produces an uncompressed 8- or 16-bit RGB TIFF in strips of 64 rows.

import { ByteReader } from "./bytes.ts";
import { checkHolds, checkSize, type DecodeOptions, type Image, newImage } from "./image.ts";
import { lzwDecode, packBitsDecode } from "./tiff_compression.ts";
import { LOGLUV, logLuvToXyz, SGILOG, sgiLogDecode, xyzToRgb } from "./tiff_logluv.ts";
import { inflate, ZLIB_MAX_RATIO } from "./zlib.ts";

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
/** Most output bytes per input byte each compression can produce (bomb checks). */
const MAX_RATIO: Record<number, number> = {
  1: 1,
  5: 2560, // LZW: a 12-bit code stands for at most 3839 bytes
  8: ZLIB_MAX_RATIO,
  32946: ZLIB_MAX_RATIO,
  32773: 64, // PackBits: 2 bytes repeat one up to 128 times
  [SGILOG]: 65, // 2 bytes run one byte up to 129 times
};
const COMPRESSION_NAME: Record<number, string> = {
  1: "uncompressed",
  5: "LZW",
  8: "Deflate",
  32946: "Deflate",
  32773: "PackBits",
  [SGILOG]: "SGILOG",
};

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

export function isTiff(b: Uint8Array): boolean {
  return (b[0] === 0x49 && b[1] === 0x49) || (b[0] === 0x4d && b[1] === 0x4d);
}

export function decodeTiff(bytes: Uint8Array, file: string, o: DecodeOptions = {}): Image {
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
  checkSize(file, width, height, o);
  const spp = one(277, 1);
  const bitsList = tags.get(258) ?? [1];
  const bits = bitsList[0];
  if (bitsList.some((b) => b !== bits)) r.fail(`mixed bit depths ${bitsList.join("/")}`);
  const format = one(339, 1);
  const photometric = one(262, spp >= 3 ? 2 : 1);
  const compression = one(259, 1);
  const planar = one(284, 1) === 2;
  // LogLuv (SGI's log-encoded HDR, OpenCV's float RGB TIFF): one 32-bit code per pixel,
  // whatever BitsPerSample and SampleFormat say.
  const logLuv = photometric === LOGLUV;
  let bps: number; // bytes per stored sample
  if (logLuv) {
    if (compression !== SGILOG) {
      r.fail(
        `unsupported LogLuv compression ${compression} (SGILOG is read; SGILOG24 is not)`,
      );
    }
    if (planar) r.fail("planar LogLuv is not supported");
    bps = 4;
  } else {
    if (compression === SGILOG) r.fail("SGILOG compression without LogLuv photometric");
    if (!((format === 1 && (bits === 8 || bits === 16)) || (format === 3 && bits === 32))) {
      r.fail(
        `unsupported sample format: ${bits}-bit ${
          format === 3 ? "float" : format === 2 ? "signed" : "unsigned"
        } (8/16-bit unsigned or 32-bit float are read)`,
      );
    }
    if (photometric !== 1 && photometric !== 2 && photometric !== 0) {
      r.fail(
        `unsupported photometric interpretation ${photometric} (gray, RGB and LogLuv RGB are read)`,
      );
    }
    if (spp < 1 || spp > 4 || (photometric === 2 && spp < 3)) {
      r.fail(`unsupported ${spp} samples per pixel`);
    }
    bps = bits / 8;
  }
  const outSpp = logLuv ? 3 : spp;
  const predictor = one(317, 1);
  if (
    !(predictor === 1 || (predictor === 2 && format === 1 && !logLuv) ||
      (predictor === 3 && format === 3))
  ) {
    r.fail(`unsupported predictor ${predictor} with ${format === 3 ? "float" : "integer"} samples`);
  }
  const ratio = MAX_RATIO[compression];
  if (!ratio) {
    r.fail(
      `unsupported TIFF compression ${compression} (none, LZW, Deflate, PackBits and SGILOG are read)`,
    );
  }

  const tiled = tags.has(322);
  const kind = tiled ? "tile" : "strip";
  const tw = tiled ? one(322) : width;
  const th = tiled ? one(323) : Math.min(one(278, height), height);
  if (tw < 1 || th < 1) r.fail("invalid tile or strip size");
  const offsets = tags.get(tiled ? 324 : 273), counts = tags.get(tiled ? 325 : 279);
  if (!offsets) r.fail(`missing ${kind} offsets`);
  const across = Math.ceil(width / tw), down = Math.ceil(height / th);
  const planes = planar ? spp : 1;
  const nBlocks = across * down * planes;
  if (offsets.length < nBlocks) r.fail(`has ${offsets.length} ${kind}s, needs ${nBlocks}`);
  const blockSpp = planar || logLuv ? 1 : spp;
  const rowBytes = tw * blockSpp * bps;
  // Strips: the last one may hold fewer rows; tiles are whole.
  const blockRows = (by: number) => (tiled ? th : Math.min(th, height - by * th));
  // Before allocating: the blocks lie in the file and their bytes can hold the pixels.
  let have = 0, need = 0;
  for (let idx = 0; idx < nBlocks; idx++) {
    const expected = rowBytes * blockRows(Math.floor(idx / across) % down);
    const count = counts?.[idx] ?? expected;
    r.need(offsets[idx], count, `${kind} ${idx}`);
    have += count;
    need += expected / ratio;
  }
  checkHolds(file, width, height, need, have, `${COMPRESSION_NAME[compression]} ${kind}s`);

  const img = newImage(width, height, outSpp, logLuv ? 32 : bits);
  const scale = format === 3 || logLuv ? 1 : 1 / (bits === 8 ? 255 : 65535);
  for (let p = 0; p < planes; p++) {
    for (let by = 0; by < down; by++) {
      for (let bx = 0; bx < across; bx++) {
        const idx = p * across * down + by * across + bx;
        const rows = blockRows(by);
        const expected = rowBytes * rows;
        const raw = r.slice(offsets[idx], counts?.[idx] ?? expected, `${kind} ${idx}`);
        const block = decompress(compression, raw, expected, bps, tw, file);
        if (block.length < expected) {
          r.fail(`${kind} ${idx} holds ${block.length} of ${expected} bytes`);
        }
        let samples: Float32Array | Uint16Array | Uint8Array;
        if (logLuv) samples = logLuvToXyz(block, expected / bps);
        else if (predictor === 3) samples = undoFloatPredictor(block, tw, rows, blockSpp);
        else {
          samples = readSamples(block, bits, format, r.little, expected / bps);
          if (predictor === 2) undoPredictor(samples, tw, rows, blockSpp, bits);
        }
        const sSpp = logLuv ? outSpp : blockSpp;
        for (let y = 0; y < rows; y++) {
          const iy = by * th + y;
          if (iy >= height) break;
          for (let x = 0; x < tw; x++) {
            const ix = bx * tw + x;
            if (ix >= width) break;
            const s = (y * tw + x) * sSpp, d = (iy * width + ix) * outSpp;
            if (planar) img.data[d + p] = samples[s] * scale;
            else for (let k = 0; k < outSpp; k++) img.data[d + k] = samples[s + k] * scale;
          }
        }
      }
    }
  }
  if (photometric === 0) {
    for (let i = 0; i < img.data.length; i += spp) img.data[i] = 1 - img.data[i];
  }
  if (logLuv) xyzToRgb(img);
  return img;
}

function decompress(
  kind: number,
  raw: Uint8Array,
  expected: number,
  bps: number,
  width: number,
  file: string,
): Uint8Array {
  switch (kind) {
    case 1:
      return raw.slice(); // the predictors work in place
    case 5:
      return lzwDecode(raw, expected, file);
    case 8:
    case 32946:
      return inflate(raw, expected, file, "Deflate data");
    case 32773:
      return packBitsDecode(raw, expected, file);
    default: // SGILOG
      return sgiLogDecode(raw, expected, bps, width, file);
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

/**
 * libtiff's floating-point predictor (3): each row holds the samples' bytes as planes, most
 * significant first, byte-wise differenced along the row with the pixel's sample stride.
 */
function undoFloatPredictor(b: Uint8Array, w: number, rows: number, spp: number): Float32Array {
  const n = w * spp, rowBytes = 4 * n;
  const out = new Float32Array(n * rows);
  const dv = new DataView(out.buffer);
  for (let y = 0; y < rows; y++) {
    const o = y * rowBytes;
    for (let i = o + spp; i < o + rowBytes; i++) b[i] = (b[i] + b[i - spp]) & 0xff;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 4; k++) dv.setUint8(4 * (y * n + i) + k, b[o + k * n + i]);
    }
  }
  // The planes give big-endian bytes; read them back in the machine's order.
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, false);
  return out;
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
