// OpenEXR, scanline single-part files: compression NONE, RLE, ZIPS, ZIP and PIZ; HALF,
// FLOAT and UINT channels; R,G,B(,A) or Y. Other channels are skipped. Chunks whose
// compressed form would be larger are stored raw, as the format allows. Writing: ZIP, with
// HALF or FLOAT channels.

import { ByteReader } from "./bytes.ts";
import { pizDecode } from "./exr_piz.ts";
import { checkSize, type Image, ImageError, newImage } from "./image.ts";
import { deflate, inflate } from "./zlib.ts";
import { floatToHalf, halfToFloat } from "./half.ts";

const MAGIC = 20000630;
const COMPRESSION = ["NONE", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "B44A", "DWAA", "DWAB"];
const LINES_PER_BLOCK: Record<number, number> = { 0: 1, 1: 1, 2: 1, 3: 16, 4: 32 };
const TYPE_BYTES = [4, 2, 4]; // UINT, HALF, FLOAT

export interface ExrChannel {
  name: string;
  type: number;
}

export function isExr(bytes: Uint8Array): boolean {
  return bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === MAGIC;
}

export async function decodeExr(bytes: Uint8Array, file: string): Promise<Image> {
  const r: ByteReader = new ByteReader(bytes, file, true);
  if (!isExr(bytes)) r.fail("not an OpenEXR file");
  const version = r.u32(4);
  if ((version & 0xff) !== 2) r.fail(`unsupported OpenEXR version ${version & 0xff}`);
  if (version & 0x200) r.fail("tiled OpenEXR files are not supported (scanline files are read)");
  if (version & 0x1800) r.fail("deep or multi-part OpenEXR files are not supported");
  r.pos = 8;
  const cstr = (): string => {
    const end = bytes.indexOf(0, r.pos);
    if (end < 0 || end - r.pos > 255) r.fail("truncated header (unterminated name)");
    const s = new TextDecoder("latin1").decode(bytes.subarray(r.pos, end));
    r.pos = end + 1;
    return s;
  };
  let channels: ExrChannel[] | null = null;
  let compression = -1, dw: number[] | null = null;
  for (;;) {
    const name = cstr();
    if (name === "") break;
    const type = cstr();
    const size = r.i32();
    const at = r.pos;
    r.need(at, size, `attribute ${name}`);
    if (name === "channels" && type === "chlist") {
      channels = [];
      r.pos = at;
      for (;;) {
        const cn = cstr();
        if (cn === "") break;
        const pt = r.i32();
        r.pos += 4;
        const xs = r.i32(), ys = r.i32();
        if (pt < 0 || pt > 2) r.fail(`channel ${cn} has unknown pixel type ${pt}`);
        if (xs !== 1 || ys !== 1) {
          r.fail(
            `channel ${cn} is subsampled (${xs}x${ys}); only full-resolution channels are read`,
          );
        }
        channels.push({ name: cn, type: pt });
      }
    } else if (name === "compression") compression = r.u8(at);
    else if (name === "dataWindow") dw = [r.i32(at), r.i32(at + 4), r.i32(at + 8), r.i32(at + 12)];
    r.pos = at + size;
  }
  if (!channels || channels.length === 0) r.fail("no channels attribute");
  if (!dw) r.fail("no dataWindow attribute");
  if (!(compression in LINES_PER_BLOCK)) {
    r.fail(
      `unsupported compression ${
        COMPRESSION[compression] ?? compression
      } (NONE, RLE, ZIPS, ZIP and PIZ are read)`,
    );
  }
  const [x0, y0, x1, y1] = dw;
  const width = x1 - x0 + 1, height = y1 - y0 + 1;
  checkSize(file, width, height, bytes.length);

  const pick = (n: string) => channels!.findIndex((c) => c.name === n);
  const rgb = ["R", "G", "B"].map(pick);
  const alpha = pick("A"), luma = pick("Y");
  let wanted: number[];
  if (rgb.every((i) => i >= 0)) wanted = alpha >= 0 ? [...rgb, alpha] : rgb;
  else if (luma >= 0) wanted = alpha >= 0 ? [luma, alpha] : [luma];
  else return r.fail(`no R,G,B or Y channels (has ${channels.map((c) => c.name).join(", ")})`);
  const img = newImage(width, height, wanted.length, channels.some((c) => c.type === 1) ? 16 : 32);

  const lpb = LINES_PER_BLOCK[compression];
  const nChunks = Math.ceil(height / lpb);
  const lineBytes = channels.reduce((n, c) => n + TYPE_BYTES[c.type] * width, 0);
  const tableAt = r.pos;
  r.need(tableAt, 8 * nChunks, "offset table");
  for (let k = 0; k < nChunks; k++) {
    const off = r.u64(tableAt + 8 * k);
    const y = r.i32(off), size = r.i32(off + 4);
    const row0 = y - y0;
    if (row0 < 0 || row0 >= height || (row0 % lpb) !== 0) {
      r.fail(`chunk ${k} starts at bad line ${y}`);
    }
    const lines = Math.min(lpb, height - row0);
    const expected = lines * lineBytes;
    const data = r.slice(off + 8, size, `chunk ${k}`);
    const raw = size >= expected
      ? data
      : await uncompress(compression, data, expected, channels, width, lines, file);
    if (raw.length !== expected) r.fail(`chunk ${k} holds ${raw.length} of ${expected} bytes`);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let p = 0;
    for (let l = 0; l < lines; l++) {
      const rowBase = (row0 + l) * width * wanted.length;
      for (let ci = 0; ci < channels.length; ci++) {
        const t = channels[ci].type, slot = wanted.indexOf(ci);
        if (slot >= 0) {
          for (let x = 0; x < width; x++) {
            const v = t === 1
              ? halfToFloat(dv.getUint16(p + 2 * x, true))
              : t === 2
              ? dv.getFloat32(p + 4 * x, true)
              : dv.getUint32(p + 4 * x, true);
            img.data[rowBase + x * wanted.length + slot] = v;
          }
        }
        p += TYPE_BYTES[t] * width;
      }
    }
  }
  return img;
}

async function uncompress(
  kind: number,
  data: Uint8Array,
  expected: number,
  channels: ExrChannel[],
  width: number,
  lines: number,
  file: string,
): Promise<Uint8Array> {
  switch (kind) {
    case 1:
      return unpredict(rleDecode(data, expected, file));
    case 2:
    case 3:
      return unpredict(await inflate(data, expected, file, "ZIP chunk"));
    case 4:
      return pizDecode(
        data,
        expected,
        channels.map((c) => TYPE_BYTES[c.type] / 2),
        width,
        lines,
        file,
      );
  }
  throw new ImageError(file, `unsupported compression ${kind}`);
}

function rleDecode(src: Uint8Array, expected: number, file: string): Uint8Array {
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
function unpredict(t: Uint8Array): Uint8Array {
  for (let i = 1; i < t.length; i++) t[i] = (t[i - 1] + t[i] - 128) & 0xff;
  const out = new Uint8Array(t.length);
  const half = (t.length + 1) >> 1;
  for (let i = 0; i < t.length; i++) out[i] = i & 1 ? t[half + (i >> 1)] : t[i >> 1];
  return out;
}

function predict(raw: Uint8Array): Uint8Array {
  const t = new Uint8Array(raw.length);
  const half = (raw.length + 1) >> 1;
  for (let i = 0; i < raw.length; i++) t[i & 1 ? half + (i >> 1) : i >> 1] = raw[i];
  for (let i = t.length - 1; i > 0; i--) t[i] = (t[i] - t[i - 1] + 128 + 256) & 0xff;
  return t;
}

export interface ExrWriteOptions {
  /** "half" (default) or "float" channels. */
  type?: "half" | "float";
}

/** ZIP-compressed scanline EXR of the image's channels: Y, Y+A, RGB or RGBA. */
export async function encodeExr(img: Image, o: ExrWriteOptions = {}): Promise<Uint8Array> {
  const { width, height, channels } = img;
  const names = [["Y"], ["Y", "A"], ["R", "G", "B"], ["R", "G", "B", "A"]][channels - 1];
  if (!names) throw new Error(`encodeExr: cannot write ${channels} channels`);
  const ptype = o.type === "float" ? 2 : 1;
  const order = names.map((n, i) => ({ n, i })).sort((a, b) => (a.n < b.n ? -1 : 1));
  const enc = new TextEncoder();
  const head: number[] = [];
  const u32 = (v: number) =>
    head.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
  const f32 = (v: number) => {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    head.push(...b);
  };
  const attr = (name: string, type: string, body: number[]) => {
    head.push(...enc.encode(name), 0, ...enc.encode(type), 0);
    u32(body.length);
    head.push(...body);
  };
  const le = (vals: number[], f: (v: number) => void) => {
    const save = head.length;
    vals.forEach(f);
    return head.splice(save);
  };
  u32(MAGIC);
  u32(2);
  const chlist: number[] = [];
  for (const { n } of order) {
    chlist.push(...enc.encode(n), 0);
    chlist.push(...le([ptype, 0, 1, 1], u32));
  }
  chlist.push(0);
  const box = le([0, 0, width - 1, height - 1], u32);
  attr("channels", "chlist", chlist);
  attr("compression", "compression", [3]);
  attr("dataWindow", "box2i", box);
  attr("displayWindow", "box2i", box);
  attr("lineOrder", "lineOrder", [0]);
  attr("pixelAspectRatio", "float", le([1], f32));
  attr("screenWindowCenter", "v2f", le([0, 0], f32));
  attr("screenWindowWidth", "float", le([1], f32));
  head.push(0);

  const lpb = 16, nChunks = Math.ceil(height / lpb), bytes = ptype === 1 ? 2 : 4;
  const chunks: Uint8Array[] = [];
  for (let k = 0; k < nChunks; k++) {
    const lines = Math.min(lpb, height - k * lpb);
    const raw = new Uint8Array(lines * width * channels * bytes);
    const dv = new DataView(raw.buffer);
    let p = 0;
    for (let l = 0; l < lines; l++) {
      const y = k * lpb + l;
      for (const { i } of order) {
        for (let x = 0; x < width; x++) {
          const v = img.data[(y * width + x) * channels + i];
          if (ptype === 1) dv.setUint16(p, floatToHalf(v), true);
          else dv.setFloat32(p, v, true);
          p += bytes;
        }
      }
    }
    const z = await deflate(predict(raw));
    const data = z.length < raw.length ? z : raw;
    const c = new Uint8Array(8 + data.length);
    const cv = new DataView(c.buffer);
    cv.setInt32(0, k * lpb, true);
    cv.setInt32(4, data.length, true);
    c.set(data, 8);
    chunks.push(c);
  }
  const tableAt = head.length;
  const out = new Uint8Array(tableAt + 8 * nChunks + chunks.reduce((n, c) => n + c.length, 0));
  out.set(head);
  const ov = new DataView(out.buffer);
  let at = tableAt + 8 * nChunks;
  chunks.forEach((c, k) => {
    ov.setBigUint64(tableAt + 8 * k, BigInt(at), true);
    out.set(c, at);
    at += c.length;
  });
  return out;
}
