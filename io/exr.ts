// OpenEXR: scanline and tiled files (the full-resolution level of mip- and rip-maps),
// single- or multi-part (the first part or one named by DecodeOptions.part); compression
// NONE, RLE, ZIPS, ZIP, PIZ, PXR24, B44, B44A (exr_compression.ts), DWAA and DWAB (exr_dwa.ts,
// bit for bit what OpenEXR 3.1 decodes on x86-64 CPUs with AVX); HALF, FLOAT and UINT
// channels; R,G,B(,A), Y(,A), or luminance/chroma Y,RY,BY(,A) turned into RGB as OpenEXR's
// RgbaInputFile does (exr_yca.ts). Other channels are skipped. The image carries its data and
// display windows; DecodeOptions.displayWindow places it in the latter. Writing: ZIP, with
// HALF or FLOAT channels.

import { ByteReader } from "./bytes.ts";
import { type Chunk, type ChunkChannel, hasLine, mod, numSamples } from "./exr_chunk.ts";
import { COMPRESSION, LINES_PER_CHUNK, MAX_RATIO, predict, uncompress } from "./exr_compression.ts";
import { dwaDecode, dwaMinBytes } from "./exr_dwa.ts";
import { lumaWeights, ycaToRgb } from "./exr_yca.ts";
import { floatToHalf, halfToFloat } from "./half.ts";
import {
  checkHolds,
  checkSize,
  type DecodeOptions,
  type Image,
  newImage,
  type Window,
} from "./image.ts";
import { deflate } from "./zlib.ts";

const MAGIC = 20000630;
const TYPE_BYTES = [4, 2, 4]; // UINT, HALF, FLOAT
const TILED = 0x200, DEEP = 0x800, MULTIPART = 0x1000;

export interface ExrChannel {
  name: string;
  type: number;
  pLinear: boolean;
  xs: number;
  ys: number;
}

interface Part {
  name?: string;
  type?: string;
  channels?: ExrChannel[];
  compression: number;
  dataWindow?: Window;
  displayWindow?: Window;
  tiles?: { xs: number; ys: number; mode: number };
  chunkCount?: number;
  chromaticities?: number[];
}

export function isExr(bytes: Uint8Array): boolean {
  return bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === MAGIC;
}

function readHeader(r: ByteReader, bytes: Uint8Array): Part {
  const cstr = (): string => {
    const end = bytes.indexOf(0, r.pos);
    if (end < 0 || end - r.pos > 255) r.fail("truncated header (unterminated name)");
    const s = new TextDecoder("latin1").decode(bytes.subarray(r.pos, end));
    r.pos = end + 1;
    return s;
  };
  const box = (at: number): Window => ({
    xMin: r.i32(at),
    yMin: r.i32(at + 4),
    xMax: r.i32(at + 8),
    yMax: r.i32(at + 12),
  });
  const part: Part = { compression: -1 };
  for (;;) {
    const name = cstr();
    if (name === "") break;
    const type = cstr();
    const size = r.i32();
    const at = r.pos;
    r.need(at, size, `attribute ${name}`);
    if (name === "channels" && type === "chlist") {
      const channels: ExrChannel[] = [];
      r.pos = at;
      for (;;) {
        const cn = cstr();
        if (cn === "") break;
        const pt = r.i32(), pLinear = r.u8() !== 0;
        r.pos += 3;
        const xs = r.i32(), ys = r.i32();
        if (pt < 0 || pt > 2) r.fail(`channel ${cn} has unknown pixel type ${pt}`);
        if (xs < 1 || ys < 1) r.fail(`channel ${cn} has sampling ${xs}x${ys}`);
        channels.push({ name: cn, type: pt, pLinear, xs, ys });
      }
      part.channels = channels;
    } else if (name === "compression") part.compression = r.u8(at);
    else if (name === "dataWindow") part.dataWindow = box(at);
    else if (name === "displayWindow") part.displayWindow = box(at);
    else if (name === "tiles" && size >= 9) {
      part.tiles = { xs: r.u32(at), ys: r.u32(at + 4), mode: r.u8(at + 8) };
    } else if (name === "chunkCount") part.chunkCount = r.i32(at);
    else if (name === "name") part.name = new TextDecoder("latin1").decode(r.slice(at, size));
    else if (name === "type") part.type = new TextDecoder("latin1").decode(r.slice(at, size));
    else if (name === "chromaticities" && size >= 32) {
      part.chromaticities = Array.from({ length: 8 }, (_, i) => r.f32(at + 4 * i));
    }
    r.pos = at + size;
  }
  return part;
}

export function decodeExr(bytes: Uint8Array, file: string, o: DecodeOptions = {}): Image {
  const r: ByteReader = new ByteReader(bytes, file, true);
  if (!isExr(bytes)) r.fail("not an OpenEXR file");
  const version = r.u32(4);
  if ((version & 0xff) !== 2) r.fail(`unsupported OpenEXR version ${version & 0xff}`);
  const multi = (version & MULTIPART) !== 0;
  if (version & DEEP && !multi) r.fail("deep OpenEXR files are not supported");
  r.pos = 8;
  const parts: Part[] = [];
  do parts.push(readHeader(r, bytes)); while (multi && r.u8(r.pos) !== 0);
  if (multi) r.pos++;

  // The part to read, and where its offset table starts (the tables follow in part order).
  const want = o.part ?? 0;
  const index = typeof want === "number" ? want : parts.findIndex((p) => p.name === want);
  if (!Number.isInteger(index) || index < 0 || index >= parts.length) {
    r.fail(
      `no part ${JSON.stringify(want)} (the file has ${parts.length}: ${
        parts.map((p, i) => p.name ?? i).join(", ")
      })`,
    );
  }
  let tableAt = r.pos;
  for (let i = 0; i < index; i++) {
    const n = parts[i].chunkCount;
    if (n === undefined || n < 0) r.fail(`part ${i} has no chunkCount attribute`);
    tableAt += 8 * n;
  }
  const part = parts[index];
  const tiled = multi ? part.type === "tiledimage" : (version & TILED) !== 0;
  if (multi && part.type !== "scanlineimage" && part.type !== "tiledimage") {
    r.fail(
      `part ${index} is a ${part.type ?? "untyped"} part (scanline and tiled images are read)`,
    );
  }
  const channels = part.channels;
  if (!channels || channels.length === 0) r.fail("no channels attribute");
  const dw = part.dataWindow ?? r.fail("no dataWindow attribute");
  const compression = part.compression;
  if (!(compression >= 0 && compression < COMPRESSION.length)) {
    r.fail(`unknown compression ${compression} (${COMPRESSION.join(", ")} are read)`);
  }
  const width = dw.xMax - dw.xMin + 1, height = dw.yMax - dw.yMin + 1;
  checkSize(file, width, height, o);
  for (const c of channels) {
    if (
      (c.xs > 1 || c.ys > 1) &&
      (tiled || mod(dw.xMin, c.xs) || mod(dw.yMin, c.ys) || width % c.xs || height % c.ys)
    ) r.fail(`channel ${c.name}'s ${c.xs}x${c.ys} sampling does not fit the data window`);
  }

  // What to read: RGB, luminance/chroma, or luminance; alpha with any of them.
  const pick = (n: string) => channels.findIndex((c) => c.name === n);
  const rgb = ["R", "G", "B"].map(pick), yc = ["Y", "RY", "BY"].map(pick);
  const alpha = pick("A"), luma = yc[0];
  const isYc = !rgb.every((i) => i >= 0) && yc.every((i) => i >= 0);
  let wanted: number[];
  if (rgb.every((i) => i >= 0)) wanted = rgb;
  else if (isYc) wanted = yc;
  else if (luma >= 0) wanted = [luma];
  else return r.fail(`no R,G,B or Y channels (has ${channels.map((c) => c.name).join(", ")})`);
  if (alpha >= 0) wanted.push(alpha);
  for (const i of wanted) {
    const c = channels[i];
    const chroma = isYc && (c.name === "RY" || c.name === "BY");
    if ((c.xs !== 1 || c.ys !== 1) && !(chroma && c.xs === 2 && c.ys === 2)) {
      r.fail(`channel ${c.name} is subsampled ${c.xs}x${c.ys} (not supported)`);
    }
  }

  // The chunks of the full-resolution level, in offset-table order; first, that the table
  // and the chunks' headers fit in the file.
  const lpc = LINES_PER_CHUNK[compression];
  const t = tiled ? part.tiles ?? r.fail("tiled part without a tiles attribute") : undefined;
  if (t && (t.xs < 1 || t.ys < 1 || (t.mode & 15) > 2)) r.fail("bad tile description");
  const across = t ? Math.ceil(width / t.xs) : 1, down = Math.ceil(height / (t ? t.ys : lpc));
  const head = (multi ? 4 : 0) + (t ? 16 : 4) + 4; // part, coordinates, size
  checkHolds(
    file,
    width,
    height,
    across * down * (8 + head),
    bytes.length - tableAt,
    "offset table and chunks",
  );
  const blocks: { x0: number; y0: number; w: number; h: number; key: number[] }[] = [];
  for (let ty = 0; ty < down; ty++) {
    for (let tx = 0; tx < across; tx++) {
      const x0 = dw.xMin + tx * (t?.xs ?? 0), y0 = dw.yMin + ty * (t ? t.ys : lpc);
      blocks.push({
        x0,
        y0,
        w: t ? Math.min(t.xs, dw.xMax - x0 + 1) : width,
        h: Math.min(t ? t.ys : lpc, dw.yMax - y0 + 1),
        key: t ? [tx, ty, 0, 0] : [y0],
      });
    }
  }
  const layout = (b: typeof blocks[number]): Chunk => {
    const chs: ChunkChannel[] = channels.map((c) => ({
      name: c.name,
      type: c.type,
      bytes: TYPE_BYTES[c.type],
      pLinear: c.pLinear,
      ys: c.ys,
      nx: numSamples(c.xs, b.x0, b.x0 + b.w - 1),
      ny: numSamples(c.ys, b.y0, b.y0 + b.h - 1),
    }));
    return {
      y0: b.y0,
      lines: b.h,
      channels: chs,
      size: chs.reduce((n, c) => n + c.nx * c.ny * c.bytes, 0),
    };
  };

  // Before allocating: each chunk lies in the file, and their bytes can hold the pixels.
  const chunks = blocks.map((b, k) => {
    const off = r.u64(tableAt + 8 * k);
    let at = off;
    if (multi && r.i32(at) !== index) r.fail(`chunk ${k} belongs to part ${r.i32(at)}`);
    if (multi) at += 4;
    b.key.forEach((v, i) => {
      if (r.i32(at + 4 * i) !== v) {
        r.fail(`chunk ${k} is not the ${tiled ? "tile" : "line"} expected`);
      }
    });
    at += 4 * b.key.length;
    const size = r.i32(at);
    if (size < 0) r.fail(`chunk ${k} has negative size`);
    return { layout: layout(b), data: r.slice(at + 4, size, `chunk ${k}`), block: b };
  });
  checkHolds(
    file,
    width,
    height,
    chunks.reduce((n, c) => n + c.layout.size, 0) / MAX_RATIO[compression],
    chunks.reduce((n, c) => n + c.data.length, 0),
    `${COMPRESSION[compression]} data`,
  );
  const dwa = compression === 8 || compression === 9;
  if (dwa) {
    // DWA chunks carry fixed headers and a DC value per 8x8 block: each needs some bytes.
    checkHolds(
      file,
      width,
      height,
      chunks.reduce(
        (n, c) =>
          n +
          (c.data.length >= c.layout.size
            ? c.layout.size
            : dwaMinBytes(c.data, c.layout, channels, file)),
        0,
      ),
      chunks.reduce((n, c) => n + c.data.length, 0),
      `${COMPRESSION[compression]} data`,
    );
  }

  // Destinations: RGB(A)/Y(A) go straight into the image; luminance/chroma into planes.
  const nc = isYc ? (alpha >= 0 ? 4 : 3) : wanted.length;
  const img = newImage(width, height, nc, wanted.some((i) => channels[i].type === 1) ? 16 : 32);
  const planes = isYc
    ? wanted.map((i) => new Float32Array((width / channels[i].xs) * (height / channels[i].ys)))
    : [];
  const sinks = channels.map((c, i) => {
    const slot = wanted.indexOf(i);
    if (slot < 0) return null;
    return isYc
      ? { data: planes[slot], stride: 1, slot: 0, row: width / c.xs }
      : { data: img.data, stride: nc, slot, row: width };
  });

  for (const { layout: ch, data, block } of chunks) {
    const raw = data.length >= ch.size
      ? data
      : dwa
      ? dwaDecode(data, ch, channels, file)
      : uncompress(compression, data, ch, file);
    if (raw.length !== ch.size) {
      r.fail(`chunk at line ${block.y0} holds ${raw.length} of ${ch.size} bytes`);
    }
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let p = 0;
    for (let l = 0; l < block.h; l++) {
      const y = block.y0 + l;
      ch.channels.forEach((c, ci) => {
        if (!hasLine(c, y)) return;
        const s = sinks[ci];
        if (s) {
          const base = (((y - dw.yMin) / channels[ci].ys) * s.row +
                (block.x0 - dw.xMin) / channels[ci].xs) * s.stride + s.slot;
          for (let x = 0; x < c.nx; x++) {
            s.data[base + x * s.stride] = c.type === 1
              ? halfToFloat(dv.getUint16(p + 2 * x, true))
              : c.type === 2
              ? dv.getFloat32(p + 4 * x, true)
              : dv.getUint32(p + 4 * x, true);
          }
        }
        p += c.bytes * c.nx;
      });
    }
  }
  if (isYc) ycaToRgb(planes, img, lumaWeights(part.chromaticities));
  img.dataWindow = dw;
  img.displayWindow = part.displayWindow ?? dw;
  return o.displayWindow ? inDisplayWindow(img, file, o) : img;
}

/** The display window's pixels: the data window's where they overlap, zero elsewhere. */
function inDisplayWindow(img: Image, file: string, o: DecodeOptions): Image {
  const d = img.displayWindow!, w = img.dataWindow!;
  const width = d.xMax - d.xMin + 1, height = d.yMax - d.yMin + 1;
  checkSize(file, width, height, o);
  const out = newImage(width, height, img.channels, img.bitDepth);
  const c = img.channels;
  for (let y = Math.max(d.yMin, w.yMin); y <= Math.min(d.yMax, w.yMax); y++) {
    const x0 = Math.max(d.xMin, w.xMin), x1 = Math.min(d.xMax, w.xMax);
    if (x1 < x0) break;
    const from = ((y - w.yMin) * img.width + x0 - w.xMin) * c;
    out.data.set(
      img.data.subarray(from, from + (x1 - x0 + 1) * c),
      ((y - d.yMin) * width + x0 - d.xMin) * c,
    );
  }
  out.dataWindow = w;
  out.displayWindow = d;
  return out;
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
