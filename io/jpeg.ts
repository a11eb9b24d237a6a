// JPEG (JFIF/EXIF) decoding: baseline and extended sequential, and progressive Huffman
// scans; gray or YCbCr (RGB when an Adobe marker says so); any sampling factors of 1 or 2
// (4:4:4, 4:2:2, 4:2:0, 4:4:0), restart intervals; EXIF orientation is applied.
// The IDCT, upsampling and colour conversion are libjpeg's defaults (integer "islow" IDCT,
// triangle "fancy" upsampling, fixed-point YCbCr tables), so pixels are bit-identical to
// what libjpeg-turbo (djpeg, ImageMagick) decodes. A file's one sequential scan streams: each
// block goes through the IDCT as it is decoded and rows into the image as they are complete.

import { parseExif } from "./exif.ts";
import {
  checkHolds,
  checkSize,
  type DecodeOptions,
  type Image,
  ImageError,
  newImage,
} from "./image.ts";

/** Zigzag position → natural (row-major) index of an 8×8 block. */
export const ZIGZAG = Int32Array.from(
  ("0 1 8 16 9 2 3 10 17 24 32 25 18 11 4 5 12 19 26 33 40 48 41 34 27 20 13 6 7 14 21 28 " +
    "35 42 49 56 57 50 43 36 29 22 15 23 30 37 44 51 58 59 52 45 38 31 39 46 53 60 61 54 47 55 " +
    "62 63").split(" "),
  Number,
);

interface Huffman {
  lookup: Uint16Array; // 9-bit lookahead: (length << 8) | symbol, 0 = longer code
  /**
   * 9-bit lookahead for AC tables: a code and its magnitude bits together when they fit,
   * as (value << 16) | (run << 8) | bits; value 0 is EOB, or ZRL when run is 15. 0 = slow path.
   */
  fastAc: Int32Array;
  maxcode: Int32Array; // per length 1..16, -1 if none
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  bw: number; // blocks per line, padded to whole MCUs
  bh: number;
  cw: number; // the component's own width/height in samples
  ch: number;
  /** Quantised coefficients, natural order, 64 per block: all blocks, or while streaming one. */
  coefs: Int16Array;
  /** Samples after the IDCT, stride bw·8: block row y's lie at rows y·8 mod planeRows. */
  plane: Uint8Array;
  planeRows: number;
  dcPred: number;
  dcTable?: Huffman;
  acTable?: Huffman;
}

/** The canonical code of a DHT segment, or undefined when its counts oversubscribe it. */
function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman | undefined {
  const maxcode = new Int32Array(18).fill(-1),
    valptr = new Int32Array(17),
    mincode = new Int32Array(17);
  const lookup = new Uint16Array(512), fastAc = new Int32Array(512);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    valptr[l] = k;
    mincode[l] = code;
    for (let i = 0; i < counts[l - 1]; i++) {
      if (l <= 9) {
        const base = code << (9 - l), rs = values[k], r = rs >> 4, s = rs & 15;
        for (let t = 0; t < 1 << (9 - l); t++) {
          lookup[base + t] = (l << 8) | rs;
          if (l + s > 9) continue;
          const bits = ((base + t) >> (9 - l - s)) & ((1 << s) - 1);
          const v = s === 0 ? 0 : bits < 1 << (s - 1) ? bits - (1 << s) + 1 : bits;
          fastAc[base + t] = (v << 16) | (r << 8) | (l + s);
        }
      }
      code++;
      k++;
    }
    if (code > 1 << l) return undefined;
    if (counts[l - 1]) maxcode[l] = code - 1;
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { lookup, fastAc, maxcode, valptr, mincode, values };
}

class BitReader {
  buf = 0;
  bits = 0;
  marker = -1; // a marker met inside entropy data
  pad = 0; // zero bits supplied after the end of the file
  row = 0; // the MCU row (block row, in a one-component scan) being decoded, of `rows`
  rows = 0;
  constructor(readonly d: Uint8Array, public pos: number, readonly fail: (p: string) => never) {}

  /**
   * Tops the buffer up past 24 bits. After a marker it supplies zero bits, as libjpeg does;
   * after the end of the file too, but once one of those has been consumed the scan is
   * refused there, rather than after decoding the rest of the image from zeros.
   */
  fill(): void {
    if (this.pad > this.bits) this.truncated();
    const d = this.d;
    while (this.bits <= 24) {
      let byte = 0;
      if (this.marker < 0 && this.pos < d.length) {
        byte = d[this.pos];
        if (byte !== 0xff) this.pos++;
        else if (this.pos + 1 >= d.length) this.marker = 0x100; // a lone 0xFF at the end
        else {
          const next = d[this.pos + 1];
          if (next === 0) this.pos += 2;
          else if (next === 0xff) {
            this.pos++; // fill byte
            continue;
          } else {
            this.marker = next;
            byte = 0;
          }
        }
      } else if (this.marker < 0) this.marker = 0x100; // ran off the end of the file
      if (this.marker === 0x100) {
        this.pad += 8;
        byte = 0;
      }
      this.buf = (this.buf << 8) | byte; // int32: JS keeps it a small integer, never a double
      this.bits += 8;
    }
  }
  truncated(): never {
    return this.fail(
      `truncated entropy-coded data (the scan ends in MCU row ${this.row + 1} of ${this.rows})`,
    );
  }
  bit(): number {
    if (this.bits < 1) this.fill();
    this.bits--;
    return (this.buf >>> this.bits) & 1;
  }
  get(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    this.bits -= n;
    return (this.buf >>> this.bits) & ((1 << n) - 1);
  }
  /** n-bit magnitude category value, sign-extended (the spec's EXTEND). */
  receive(n: number): number {
    const v = this.get(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }
  decode(t: Huffman | undefined): number {
    if (!t) this.fail("scan uses an undefined Huffman table");
    if (this.bits < 16) this.fill();
    const look = t!.lookup[(this.buf >>> (this.bits - 9)) & 511];
    if (look) {
      this.bits -= look >> 8;
      return look & 0xff;
    }
    const code16 = (this.buf >>> (this.bits - 16)) & 0xffff;
    for (let l = 10; l <= 16; l++) {
      const code = code16 >>> (16 - l);
      if (code <= t!.maxcode[l]) {
        this.bits -= l;
        return t!.values[t!.valptr[l] + code - t!.mincode[l]];
      }
    }
    return this.fail("corrupt entropy-coded data (bad Huffman code)");
  }
  /**
   * A sequential scan's block: DC difference, then AC run/size codes to EOB. Returns whether
   * an AC coefficient was nonzero.
   */
  baselineBlock(c: Component, off: number): boolean {
    const blk = c.coefs, ac = c.acTable ?? this.fail("scan uses an undefined Huffman table");
    const t = this.decode(c.dcTable);
    if (t > 11) this.fail("corrupt DC coefficient");
    c.dcPred += t ? this.receive(t) : 0;
    blk[off] = c.dcPred;
    const fast = ac.fastAc;
    let k = 1, any = false;
    while (k < 64) {
      if (this.bits < 16) this.fill();
      const e = fast[(this.buf >>> (this.bits - 9)) & 511];
      let r: number, v: number;
      if (e) {
        this.bits -= e & 255;
        r = (e >> 8) & 15;
        v = e >> 16;
      } else {
        const rs = this.decode(ac), s = rs & 15;
        r = rs >> 4;
        v = s ? this.receive(s) : 0;
      }
      if (v) {
        k += r;
        if (k > 63) this.fail("corrupt AC coefficients (run past the block)");
        blk[off + ZIGZAG[k++]] = v;
        any = true;
      } else if (r === 15) k += 16;
      else break;
    }
    return any;
  }
  /** Moves past a restart marker at a restart interval boundary. */
  restart(): void {
    this.buf = 0;
    this.bits = 0;
    if (this.marker < 0) {
      while (this.pos < this.d.length && this.d[this.pos] !== 0xff) this.pos++;
      while (this.pos < this.d.length && this.d[this.pos] === 0xff) this.pos++;
      this.marker = this.d[this.pos++];
    } else this.pos += 2;
    if (this.marker < 0xd0 || this.marker > 0xd7) this.fail("missing restart marker");
    this.marker = -1;
  }
}

export function isJpeg(b: Uint8Array): boolean {
  return b[0] === 0xff && b[1] === 0xd8;
}

export function decodeJpeg(d: Uint8Array, file: string, o: DecodeOptions = {}): Image {
  const fail = (p: string): never => {
    throw new ImageError(file, p);
  };
  if (!isJpeg(d)) fail("not a JPEG file");
  const u16 = (
    p: number,
  ) => (p + 1 < d.length ? (d[p] << 8) | d[p + 1] : fail("truncated marker segment"));
  const qt: Int32Array[] = [];
  const dcTables: Huffman[] = [], acTables: Huffman[] = [];
  const comps: Component[] = [];
  let width = 0, height = 0, progressive = false, hmax = 1, vmax = 1, mcusX = 0, mcusY = 0;
  let restartInterval = 0, orientation = 1, adobeTransform = -1;
  let eobrun = 0;
  let pos = 2;
  let done = false; // at EOI, or after a sequential scan of every component
  let out: Output | undefined; // made by that scan, or after the last
  while (pos < d.length && !done) {
    // Bytes before a marker are skipped, as libjpeg does (with a warning).
    while (pos < d.length && d[pos] !== 0xff) pos++;
    while (d[pos] === 0xff) pos++;
    if (pos >= d.length) break; // no EOI: libjpeg accepts that too
    const m = d[pos++];
    if (m === 0xd9) break;
    if (m >= 0xd0 && m <= 0xd7) continue;
    const len = u16(pos);
    const end = pos + len;
    if (len < 2 || end > d.length) fail(`truncated segment (marker 0x${m.toString(16)})`);
    const body = pos + 2;
    switch (m) {
      case 0xdb: { // DQT
        let p = body;
        while (p < end) {
          const pq = d[p] >> 4, tq = d[p] & 15;
          p++;
          if (tq > 3) fail("bad quantisation table id");
          const t = new Int32Array(64);
          for (let i = 0; i < 64; i++) t[ZIGZAG[i]] = pq ? u16(p + 2 * i) : d[p + i];
          p += pq ? 128 : 64;
          if (p > end) fail("truncated quantisation table");
          qt[tq] = t;
        }
        break;
      }
      case 0xc4: { // DHT
        let p = body;
        while (p < end) {
          const tc = d[p] >> 4, th = d[p] & 15;
          const counts = d.subarray(p + 1, p + 17);
          const n = counts.reduce((a, b) => a + b, 0);
          if (p + 17 + n > end || tc > 1 || th > 3 || n > 256) fail("bad Huffman table");
          const table = buildHuffman(counts, d.subarray(p + 17, p + 17 + n)) ??
            fail("bad Huffman table (oversubscribed code lengths)");
          (tc === 0 ? dcTables : acTables)[th] = table;
          p += 17 + n;
        }
        break;
      }
      case 0xc0:
      case 0xc1:
      case 0xc2: { // SOF baseline / extended / progressive
        if (comps.length) fail("more than one frame");
        if (d[body] !== 8) fail(`${d[body]}-bit JPEG is not supported (8-bit is read)`);
        progressive = m === 0xc2;
        height = u16(body + 1);
        width = u16(body + 3);
        if (height === 0) fail("height given by a DNL marker is not supported");
        checkSize(file, width, height, o);
        const nc = d[body + 5];
        if (nc !== 1 && nc !== 3) fail(`${nc}-component JPEG (e.g. CMYK) is not supported`);
        for (let i = 0; i < nc; i++) {
          const p = body + 6 + 3 * i;
          const h = d[p + 1] >> 4, v = d[p + 1] & 15;
          if (h < 1 || h > 2 || v < 1 || v > 2) {
            fail(`sampling factor ${h}x${v} is not supported (1 or 2 are read)`);
          }
          comps.push({
            id: d[p],
            h,
            v,
            tq: d[p + 2],
            bw: 0,
            bh: 0,
            cw: 0,
            ch: 0,
            coefs: new Int16Array(0),
            plane: new Uint8Array(0),
            planeRows: 0,
            dcPred: 0,
          });
        }
        hmax = Math.max(...comps.map((c) => c.h));
        vmax = Math.max(...comps.map((c) => c.v));
        mcusX = Math.ceil(width / (8 * hmax));
        mcusY = Math.ceil(height / (8 * vmax));
        let blocks = 0;
        for (const c of comps) {
          c.bw = mcusX * c.h;
          c.bh = mcusY * c.v;
          c.cw = Math.ceil((width * c.h) / hmax);
          c.ch = Math.ceil((height * c.v) / vmax);
          blocks += Math.ceil(c.cw / 8) * Math.ceil(c.ch / 8);
        }
        // Every block costs at least a 1-bit DC code, and a sequential scan a 1-bit EOB too.
        const bits = (progressive ? 1 : 2) * blocks;
        checkHolds(file, width, height, bits / 8, d.length - end, "entropy-coded data");
        break;
      }
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        fail(
          `unsupported JPEG process (SOF${m - 0xc0}: lossless, hierarchical or arithmetic-coded)`,
        );
        break;
      case 0xdd:
        restartInterval = u16(body);
        break;
      case 0xe1:
        if (String.fromCharCode(...d.subarray(body, body + 4)) === "Exif") {
          orientation = parseExif(d, body + 6, end).orientation ?? 1;
        }
        break;
      case 0xee:
        if (String.fromCharCode(...d.subarray(body, body + 5)) === "Adobe" && len >= 14) {
          adobeTransform = d[body + 11];
        }
        break;
      case 0xda: { // SOS
        if (!comps.length) fail("scan before the frame header");
        const ns = d[body];
        const scomps: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const id = d[body + 1 + 2 * i], tables = d[body + 2 + 2 * i];
          const c = comps.find((x) => x.id === id) ?? fail(`scan names unknown component ${id}`);
          c.dcTable = dcTables[tables >> 4];
          c.acTable = acTables[tables & 15];
          scomps.push(c);
        }
        const q = body + 1 + 2 * ns;
        const ss = d[q], se = d[q + 1], ah = d[q + 2] >> 4, al = d[q + 2] & 15;
        if (ss > 63 || se > 63 || ss > se || (!progressive && (ss !== 0 || se !== 63))) {
          fail("bad spectral selection");
        }
        // A sequential scan of every component is the whole image (libjpeg's one-pass mode):
        // its MCU rows go through the IDCT and into the image as they are decoded, so all the
        // coefficients are never held. Otherwise each component keeps all its coefficients
        // for later scans. A file that does not end in EOI may be truncated: its coefficients
        // are decoded first, so that it is refused before the image is allocated.
        const ended = d[d.length - 2] === 0xff && d[d.length - 1] === 0xd9;
        const stream = ended && !progressive && ns === comps.length &&
          !comps.some((c) => c.coefs.length);
        if (stream) {
          for (const c of comps) c.coefs = new Int16Array(64);
          out = new Output(comps, hmax, vmax, width, height, isYcc(), true);
        } else {
          for (const c of scomps) if (!c.coefs.length) c.coefs = new Int16Array(c.bw * c.bh * 64);
        }
        const br = new BitReader(d, end, fail);
        eobrun = 0;
        decodeScan(br, scomps, ss, se, ah, al, stream);
        done = stream;
        // Continue after the entropy-coded data: at the marker that ended it.
        pos = br.pos;
        while (
          pos < d.length &&
          !(d[pos] === 0xff && d[pos + 1] !== 0 && (d[pos + 1] < 0xd0 || d[pos + 1] > 0xd7))
        ) pos++;
        continue;
      }
    }
    pos = end;
  }
  if (!comps.length) fail("no frame header");

  function decodeScan(
    br: BitReader,
    sc: Component[],
    ss: number,
    se: number,
    ah: number,
    al: number,
    stream: boolean,
  ): void {
    const single = sc.length === 1;
    const quant = stream ? sc.map(quantTable) : [];
    const decodeBlock = (c: Component, off: number) => {
      const blk = c.coefs;
      if (!progressive) {
        br.baselineBlock(c, off);
        return;
      }
      if (ss === 0) { // DC scans
        if (ah === 0) {
          const t = br.decode(c.dcTable);
          if (t > 11) fail("corrupt DC coefficient");
          c.dcPred += t ? br.receive(t) : 0;
          blk[off] = c.dcPred * (1 << al);
        } else if (br.bit()) blk[off] |= 1 << al;
        return;
      }
      if (ah === 0) { // AC first pass
        if (eobrun > 0) {
          eobrun--;
          return;
        }
        for (let k = ss; k <= se;) {
          const rs = br.decode(c.acTable), r = rs >> 4, s = rs & 15;
          if (s) {
            k += r;
            if (k > 63) fail("corrupt AC coefficients (run past the block)");
            blk[off + ZIGZAG[k++]] = br.receive(s) * (1 << al);
          } else if (r < 15) {
            eobrun = (1 << r) - 1 + br.get(r);
            break;
          } else k += 16;
        }
        return;
      }
      // AC refinement (libjpeg's decode_mcu_AC_refine)
      const p1 = 1 << al, m1 = -1 << al;
      let k = ss;
      const refine = (z: number) => {
        if (br.bit() && (blk[z] & p1) === 0) blk[z] += blk[z] >= 0 ? p1 : m1;
      };
      if (eobrun === 0) {
        for (; k <= se; k++) {
          const rs = br.decode(c.acTable);
          let r = rs >> 4, s = rs & 15;
          if (s) {
            if (s !== 1) fail("corrupt refinement scan");
            s = br.bit() ? p1 : m1;
          } else if (r !== 15) {
            eobrun = (1 << r) + br.get(r);
            break;
          }
          do {
            const z = off + ZIGZAG[k];
            if (blk[z] !== 0) refine(z);
            else if (--r < 0) break;
            k++;
          } while (k <= se);
          if (s) {
            if (k > 63) fail("corrupt refinement scan");
            blk[off + ZIGZAG[k]] = s;
          }
        }
      }
      if (eobrun > 0) {
        for (; k <= se; k++) {
          const z = off + ZIGZAG[k];
          if (blk[z] !== 0) refine(z);
        }
        eobrun--;
      }
    };
    // One-pass scans: block (x, y) is decoded into c.coefs[0, 64) and transformed at once.
    const streamBlock = (c: Component, q: Int32Array, x: number, y: number) => {
      const ac = br.baselineBlock(c, 0);
      if (x * 8 < c.cw && y * 8 < c.ch) idctAt(c, q, 0, x, y, ac);
      c.coefs.fill(0, 0, 64);
    };
    for (const c of sc) c.dcPred = 0;
    let n = 0;
    const restartCheck = () => {
      if (restartInterval && n > 0 && n % restartInterval === 0) {
        br.restart();
        eobrun = 0;
        for (const c of sc) c.dcPred = 0;
      }
      n++;
    };
    if (single) {
      // Non-interleaved: the component's own blocks, without MCU padding.
      const c = sc[0];
      const bx = Math.ceil(c.cw / 8), by = Math.ceil(c.ch / 8);
      br.rows = by;
      for (let y = 0; y < by; y++) {
        br.row = y;
        for (let x = 0; x < bx; x++) {
          restartCheck();
          if (stream) streamBlock(c, quant[0], x, y);
          else decodeBlock(c, (y * c.bw + x) * 64);
        }
        if (stream) out!.write(y === by - 1 ? height : out!.rowsAvailable([(y + 1) * 8]));
      }
    } else {
      br.rows = mcusY;
      for (let my = 0; my < mcusY; my++) {
        br.row = my;
        for (let mx = 0; mx < mcusX; mx++) {
          restartCheck();
          for (let i = 0; i < sc.length; i++) {
            const c = sc[i];
            for (let v = 0; v < c.v; v++) {
              for (let h = 0; h < c.h; h++) {
                const x = mx * c.h + h, y = my * c.v + v;
                if (stream) streamBlock(c, quant[i], x, y);
                else decodeBlock(c, (y * c.bw + x) * 64);
              }
            }
          }
        }
        if (stream) {
          out!.write(
            my === mcusY - 1 ? height : out!.rowsAvailable(sc.map((c) => (my + 1) * 8 * c.v)),
          );
        }
      }
    }
    if (br.pad > br.bits) br.truncated();
  }

  function quantTable(c: Component): Int32Array {
    return qt[c.tq] ?? fail(`missing quantisation table ${c.tq}`);
  }
  function isYcc(): boolean {
    return comps.length === 3 &&
      (adobeTransform !== 0 || !(comps[0].id === 0x52 && comps[1].id === 0x47));
  }

  // Without a one-pass scan: dequantise and inverse-transform all blocks into whole planes
  // (a component no scan reached is mid-grey), then upsample and convert.
  if (!out) {
    out = new Output(comps, hmax, vmax, width, height, isYcc(), false);
    for (const c of comps) {
      if (c.coefs.length) idctAll(c, quantTable(c));
      else c.plane.fill(128);
    }
    out.write(height);
  }
  return orient(out.img, orientation);
}

/**
 * Where component samples become image rows: the components' planes, whole or, while a
 * one-pass scan streams through, a ring of two MCU rows each (what fancy upsampling needs
 * around the rows being written), their upsamplers, and the image they write into.
 */
class Output {
  readonly img: Image;
  readonly ups: Upsampler[];
  /** The first image row not yet written. */
  next = 0;

  constructor(
    comps: Component[],
    hmax: number,
    vmax: number,
    width: number,
    height: number,
    readonly ycc: boolean,
    ring: boolean,
  ) {
    this.img = newImage(width, height, comps.length, 8);
    this.ups = comps.map((c) => {
      c.planeRows = ring ? 16 * c.v : c.bh * 8;
      c.plane = new Uint8Array(c.bw * 8 * c.planeRows);
      return new Upsampler(c, hmax / c.h, vmax / c.v, width);
    });
  }

  /**
   * Image rows that can be written once each component's planes hold its first `rows[i]`
   * rows: 2×2 and 1×2 upsampling also needs the component row below.
   */
  rowsAvailable(rows: number[]): number {
    let n = this.img.height;
    this.ups.forEach((u, i) => n = Math.min(n, u.fv === 2 ? 2 * rows[i] - 2 : rows[i]));
    return n;
  }

  /** Writes image rows [next, end), converting YCbCr to RGB when `ycc`. */
  write(end: number): void {
    const { width, data } = this.img, ups = this.ups;
    let o = this.next * width * ups.length;
    for (let y = this.next; y < end; y++) {
      if (ups.length === 1) {
        const u = ups[0], l = u.row(y), a = u.at;
        for (let x = 0; x < width; x++) data[o++] = UNIT[l[a + x] + 256];
        continue;
      }
      const l = ups[0].row(y), a0 = ups[0].at, cb = ups[1].row(y), a1 = ups[1].at;
      const cr = ups[2].row(y), a2 = ups[2].at;
      if (this.ycc) {
        for (let x = 0; x < width; x++, o += 3) {
          const y0 = l[a0 + x] + 256, b = cb[a1 + x], r = cr[a2 + x];
          data[o] = UNIT[y0 + CR_R[r]];
          data[o + 1] = UNIT[y0 + ((CB_G[b] + CR_G[r]) >> 16)];
          data[o + 2] = UNIT[y0 + CB_B[b]];
        }
      } else {
        for (let x = 0; x < width; x++, o += 3) {
          data[o] = UNIT[l[a0 + x] + 256];
          data[o + 1] = UNIT[cb[a1 + x] + 256];
          data[o + 2] = UNIT[cr[a2 + x] + 256];
        }
      }
    }
    this.next = Math.max(this.next, end);
  }
}

// --- IDCT ---------------------------------------------------------------------------------
// libjpeg's accurate integer IDCT (jidctint.c, "islow": Loeffler–Ligtenberg–Moschytz with
// 13-bit constants and 2 extra bits between passes), so samples match libjpeg exactly,
// including its shortcuts for columns and rows whose AC terms are zero (exact, not
// approximations) and its range limit (values wrap modulo 1024 outside ±512, not clamp).
// Dequantised coefficients of 8-bit data stay below 2^11 in magnitude, and then every
// intermediate fits in 32 bits as in libjpeg's C; hostile values overflow into garbage pixels,
// never an error.
export const CONST_BITS = 13, PASS1_BITS = 2;
export const F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633;
export const F1501 = 12299, F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995;
export const F3072 = 25172;

const WS = new Int32Array(64);
/** libjpeg's IDCT range limit, indexed by the descaled value & 1023 (jdmaster.c). */
const RANGE = Uint8Array.from(
  { length: 1024 },
  (_, i) => (i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896),
);

/** All blocks of the component that its samples reach, from c.coefs into its plane. */
function idctAll(c: Component, q: Int32Array): void {
  for (let y = 0; y * 8 < c.ch; y++) {
    for (let x = 0; x * 8 < c.cw; x++) idctAt(c, q, (y * c.bw + x) * 64, x, y);
  }
}

/**
 * Block (x, y) of the component, from its coefficients at c.coefs[off], into its plane;
 * `ac` false says they are DC alone, and the block is flat.
 */
function idctAt(c: Component, q: Int32Array, off: number, x: number, y: number, ac = true): void {
  const stride = c.bw * 8, o = ((y * 8) % c.planeRows) * stride + x * 8, plane = c.plane;
  if (ac) return idctBlock(c.coefs, off, q, WS, plane, o, stride);
  const v = RANGE[((c.coefs[off] * q[0] * 4 + 16) >> 5) & 1023];
  for (let r = o; r < o + 8 * stride; r += stride) {
    plane[r] =
      plane[r + 1] =
      plane[r + 2] =
      plane[r + 3] =
        v;
    plane[r + 4] =
      plane[r + 5] =
      plane[r + 6] =
      plane[r + 7] =
        v;
  }
}

// The columns and the rows run the same 1-D transform, written out in each as in libjpeg: one
// function for both (its results through a scratch array) made whole decodes ~10% slower.
/** One block: coefficients at `off` (natural order) → samples at out[o], rows `stride` apart. */
function idctBlock(
  coef: Int16Array,
  off: number,
  q: Int32Array,
  ws: Int32Array,
  out: Uint8Array,
  o: number,
  stride: number,
): void {
  // Columns, into ws scaled by 2^PASS1_BITS.
  for (let col = 0; col < 8; col++) {
    const i = off + col;
    if (
      (coef[i + 8] | coef[i + 16] | coef[i + 24] | coef[i + 32] | coef[i + 40] | coef[i + 48] |
        coef[i + 56]) === 0
    ) {
      const dc = coef[i] * q[col] * 4;
      ws[col] =
        ws[col + 8] =
        ws[col + 16] =
        ws[col + 24] =
          dc;
      ws[col + 32] =
        ws[col + 40] =
        ws[col + 48] =
        ws[col + 56] =
          dc;
      continue;
    }
    let z2 = coef[i + 16] * q[col + 16], z3 = coef[i + 48] * q[col + 48];
    let z1 = (z2 + z3) * F0541;
    const t2e = z1 - z3 * F1847, t3e = z1 + z2 * F0765;
    z2 = coef[i] * q[col];
    z3 = coef[i + 32] * q[col + 32];
    const t0e = (z2 + z3) * 8192, t1e = (z2 - z3) * 8192;
    const t10 = t0e + t3e, t13 = t0e - t3e, t11 = t1e + t2e, t12 = t1e - t2e;
    let t0 = coef[i + 56] * q[col + 56], t1 = coef[i + 40] * q[col + 40];
    let t2 = coef[i + 24] * q[col + 24], t3 = coef[i + 8] * q[col + 8];
    z1 = t0 + t3;
    z2 = t1 + t2;
    z3 = t0 + t2;
    let z4 = t1 + t3;
    const z5 = (z3 + z4) * F1175;
    z1 *= -F0899;
    z2 *= -F2562;
    z3 = z3 * -F1961 + z5;
    z4 = z4 * -F0390 + z5;
    t0 = t0 * F0298 + z1 + z3;
    t1 = t1 * F2053 + z2 + z4;
    t2 = t2 * F3072 + z2 + z3;
    t3 = t3 * F1501 + z1 + z4;
    const r = 1 << (CONST_BITS - PASS1_BITS - 1), n = CONST_BITS - PASS1_BITS;
    ws[col] = (t10 + t3 + r) >> n;
    ws[col + 56] = (t10 - t3 + r) >> n;
    ws[col + 8] = (t11 + t2 + r) >> n;
    ws[col + 48] = (t11 - t2 + r) >> n;
    ws[col + 16] = (t12 + t1 + r) >> n;
    ws[col + 40] = (t12 - t1 + r) >> n;
    ws[col + 24] = (t13 + t0 + r) >> n;
    ws[col + 32] = (t13 - t0 + r) >> n;
  }
  // Rows, descaled by 2^(CONST_BITS + PASS1_BITS + 3), level-shifted and range-limited.
  for (let row = 0; row < 8; row++) {
    const w = row * 8, p = o + row * stride;
    if ((ws[w + 1] | ws[w + 2] | ws[w + 3] | ws[w + 4] | ws[w + 5] | ws[w + 6] | ws[w + 7]) === 0) {
      const v = RANGE[((ws[w] + 16) >> 5) & 1023];
      out[p] =
        out[p + 1] =
        out[p + 2] =
        out[p + 3] =
          v;
      out[p + 4] =
        out[p + 5] =
        out[p + 6] =
        out[p + 7] =
          v;
      continue;
    }
    let z2 = ws[w + 2], z3 = ws[w + 6];
    let z1 = (z2 + z3) * F0541;
    const t2e = z1 - z3 * F1847, t3e = z1 + z2 * F0765;
    const t0e = (ws[w] + ws[w + 4]) * 8192, t1e = (ws[w] - ws[w + 4]) * 8192;
    const t10 = t0e + t3e, t13 = t0e - t3e, t11 = t1e + t2e, t12 = t1e - t2e;
    let t0 = ws[w + 7], t1 = ws[w + 5], t2 = ws[w + 3], t3 = ws[w + 1];
    z1 = t0 + t3;
    z2 = t1 + t2;
    z3 = t0 + t2;
    let z4 = t1 + t3;
    const z5 = (z3 + z4) * F1175;
    z1 *= -F0899;
    z2 *= -F2562;
    z3 = z3 * -F1961 + z5;
    z4 = z4 * -F0390 + z5;
    t0 = t0 * F0298 + z1 + z3;
    t1 = t1 * F2053 + z2 + z4;
    t2 = t2 * F3072 + z2 + z3;
    t3 = t3 * F1501 + z1 + z4;
    const r = 1 << (CONST_BITS + PASS1_BITS + 2), n = CONST_BITS + PASS1_BITS + 3;
    out[p] = RANGE[((t10 + t3 + r) >> n) & 1023];
    out[p + 7] = RANGE[((t10 - t3 + r) >> n) & 1023];
    out[p + 1] = RANGE[((t11 + t2 + r) >> n) & 1023];
    out[p + 6] = RANGE[((t11 - t2 + r) >> n) & 1023];
    out[p + 2] = RANGE[((t12 + t1 + r) >> n) & 1023];
    out[p + 5] = RANGE[((t12 - t1 + r) >> n) & 1023];
    out[p + 3] = RANGE[((t13 + t0 + r) >> n) & 1023];
    out[p + 4] = RANGE[((t13 - t0 + r) >> n) & 1023];
  }
}

// --- upsampling (libjpeg-turbo's fancy upsampling for 2×1, 2×2 and 1×2) --------------------
/** A component's samples at full resolution, one output row at a time. */
class Upsampler {
  /** Where the last row() lies in the array it returned. */
  at = 0;
  private readonly row1: Uint8Array;
  private readonly col: Int32Array;

  constructor(
    readonly c: Component,
    readonly fh: number,
    readonly fv: number,
    readonly width: number,
  ) {
    const whole = fh === 1 && fv === 1;
    this.row1 = new Uint8Array(whole ? 0 : 2 * c.cw + 2);
    this.col = new Int32Array(whole ? 0 : c.cw);
  }

  /** Image row oy's samples: [at, at + width) of the array returned (the plane, if 1×1). */
  row(oy: number): Uint8Array {
    const { fh, fv, col, width } = this, { plane, planeRows, cw, ch } = this.c;
    const stride = this.c.bw * 8;
    if (fh === 1 && fv === 1) {
      this.at = (oy % planeRows) * stride;
      return plane;
    }
    const row = this.row1;
    this.at = 0;
    // Vertical step: column sums (2×2: 3·near + far; 1×2: finished values) or plain row.
    const sy = fv === 2 ? oy >> 1 : oy, near = (sy % planeRows) * stride;
    if (fv === 2) {
      const fy = oy & 1 ? Math.min(sy + 1, ch - 1) : Math.max(sy - 1, 0);
      const far = (fy % planeRows) * stride;
      for (let x = 0; x < cw; x++) col[x] = 3 * plane[near + x] + plane[far + x];
    } else for (let x = 0; x < cw; x++) col[x] = plane[near + x];
    if (fh === 1) { // 1×2: (3·near + far + bias) >> 2, bias 1 above, 2 below
      const bias = oy & 1 ? 2 : 1;
      for (let x = 0; x < width; x++) row[x] = (col[x] + bias) >> 2;
      return row;
    }
    if (cw === 1) {
      const v = fv === 2 ? (col[0] * 4 + 8) >> 4 : col[0];
      row[0] = row[1] = v;
    } else if (fv === 2) { // 2×2
      row[0] = (col[0] * 4 + 8) >> 4;
      row[1] = (col[0] * 3 + col[1] + 7) >> 4;
      for (let x = 1; x < cw - 1; x++) {
        row[2 * x] = (col[x] * 3 + col[x - 1] + 8) >> 4;
        row[2 * x + 1] = (col[x] * 3 + col[x + 1] + 7) >> 4;
      }
      row[2 * cw - 2] = (col[cw - 1] * 3 + col[cw - 2] + 8) >> 4;
      row[2 * cw - 1] = (col[cw - 1] * 4 + 7) >> 4;
    } else { // 2×1
      row[0] = col[0];
      row[1] = (col[0] * 3 + col[1] + 2) >> 2;
      for (let x = 1; x < cw - 1; x++) {
        row[2 * x] = (col[x] * 3 + col[x - 1] + 1) >> 2;
        row[2 * x + 1] = (col[x] * 3 + col[x + 1] + 2) >> 2;
      }
      row[2 * cw - 2] = (col[cw - 1] * 3 + col[cw - 2] + 1) >> 2;
      row[2 * cw - 1] = col[cw - 1];
    }
    return row;
  }
}

// --- colour ------------------------------------------------------------------------------
const FIX = (x: number) => Math.round(x * 65536);
const CR_R = new Int32Array(256),
  CB_B = new Int32Array(256),
  CR_G = new Int32Array(256),
  CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.402) * x + 32768) >> 16;
  CB_B[i] = (FIX(1.772) * x + 32768) >> 16;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + 32768;
}
/** Sample v + 256, clamped to [0, 255] (libjpeg's range limit) and scaled to [0, 1]. */
const UNIT = Float32Array.from(
  { length: 768 },
  (_, i) => Math.min(Math.max(i - 256, 0), 255) / 255,
);

// --- EXIF orientation --------------------------------------------------------------------
/** Applies EXIF orientation 1–8 so the image is upright. */
function orient(img: Image, o: number): Image {
  if (o === 1) return img;
  const { width: w, height: h, channels: c } = img;
  const swap = o >= 5;
  const out = newImage(swap ? h : w, swap ? w : h, c, img.bitDepth);
  const W = out.width, H = out.height;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // Source pixel for output (x, y), per the EXIF definitions.
      let sx: number, sy: number;
      switch (o) {
        case 2:
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7:
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        default:
          [sx, sy] = [w - 1 - y, x];
          break; // 8
      }
      const s = (sy * w + sx) * c, t = (y * W + x) * c;
      for (let k = 0; k < c; k++) out.data[t + k] = img.data[s + k];
    }
  }
  return out;
}
