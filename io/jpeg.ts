// JPEG (JFIF/EXIF) decoding: baseline and extended sequential, and progressive Huffman
// scans; gray or YCbCr (RGB when an Adobe marker says so); any sampling factors of 1 or 2
// (4:4:4, 4:2:2, 4:2:0, 4:4:0), restart intervals; EXIF orientation is applied.
// The IDCT, upsampling and colour conversion are libjpeg's defaults (integer "islow" IDCT,
// triangle "fancy" upsampling, fixed-point YCbCr tables), so pixels are bit-identical to
// what libjpeg-turbo (djpeg, ImageMagick) decodes.

import { parseExif } from "./exif.ts";
import {
  checkHolds,
  checkSize,
  type DecodeOptions,
  type Image,
  ImageError,
  newImage,
} from "./image.ts";

const ZIGZAG = Int32Array.from([
  0,
  1,
  8,
  16,
  9,
  2,
  3,
  10,
  17,
  24,
  32,
  25,
  18,
  11,
  4,
  5,
  12,
  19,
  26,
  33,
  40,
  48,
  41,
  34,
  27,
  20,
  13,
  6,
  7,
  14,
  21,
  28,
  35,
  42,
  49,
  56,
  57,
  50,
  43,
  36,
  29,
  22,
  15,
  23,
  30,
  37,
  44,
  51,
  58,
  59,
  52,
  45,
  38,
  31,
  39,
  46,
  53,
  60,
  61,
  54,
  47,
  55,
  62,
  63,
]);

interface Huffman {
  lookup: Uint16Array; // 9-bit lookahead: (length << 8) | symbol, 0 = longer code
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
  coefs: Int16Array;
  dcPred: number;
  dcTable?: Huffman;
  acTable?: Huffman;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1),
    valptr = new Int32Array(17),
    mincode = new Int32Array(17);
  const lookup = new Uint16Array(512);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    valptr[l] = k;
    mincode[l] = code;
    for (let i = 0; i < counts[l - 1]; i++) {
      if (l <= 9) {
        const base = code << (9 - l);
        for (let t = 0; t < 1 << (9 - l); t++) lookup[base + t] = (l << 8) | values[k];
      }
      code++;
      k++;
    }
    if (counts[l - 1]) maxcode[l] = code - 1;
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { lookup, maxcode, valptr, mincode, values };
}

class BitReader {
  buf = 0;
  bits = 0;
  marker = -1; // a marker met inside entropy data
  pad = 0; // zero bits supplied after the end of the file
  constructor(readonly d: Uint8Array, public pos: number, readonly fail: (p: string) => never) {}

  private fill(): void {
    while (this.bits <= 24) {
      let byte = 0;
      if (this.marker < 0 && this.pos < this.d.length) {
        byte = this.d[this.pos];
        if (byte === 0xff) {
          const next = this.d[this.pos + 1];
          if (next === 0) this.pos += 2;
          else if (next === 0xff) {
            this.pos++; // fill byte
            continue;
          } else {
            this.marker = next;
            byte = 0;
          }
        } else this.pos++;
      } else if (this.marker < 0) this.marker = 0x100; // ran off the end of the file
      if (this.marker === 0x100) this.pad += 8;
      this.buf = ((this.buf << 8) | byte) >>> 0;
      this.bits += 8;
      if (this.bits > 24 && this.marker >= 0) break;
    }
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
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | this.bit();
      if (code <= t!.maxcode[l] && t!.maxcode[l] >= 0) {
        return t!.values[t!.valptr[l] + code - t!.mincode[l]];
      }
    }
    return this.fail("corrupt entropy-coded data (bad Huffman code)");
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
  let sawEoi = false;
  while (pos < d.length && !sawEoi) {
    // Bytes before a marker are skipped, as libjpeg does (with a warning).
    while (pos < d.length && d[pos] !== 0xff) pos++;
    while (d[pos] === 0xff) pos++;
    if (pos >= d.length) break; // no EOI: libjpeg accepts that too
    const m = d[pos++];
    if (m === 0xd9) {
      sawEoi = true;
      break;
    }
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
          const table = buildHuffman(counts, d.subarray(p + 17, p + 17 + n));
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
        for (const c of comps) c.coefs = new Int16Array(c.bw * c.bh * 64);
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
        const br = new BitReader(d, end, fail);
        eobrun = 0;
        decodeScan(br, scomps, ss, se, ah, al);
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
  ): void {
    const single = sc.length === 1;
    const decodeBlock = (c: Component, off: number) => {
      const blk = c.coefs;
      if (!progressive) {
        const t = br.decode(c.dcTable);
        if (t > 11) fail("corrupt DC coefficient");
        c.dcPred += t ? br.receive(t) : 0;
        blk[off] = c.dcPred;
        for (let k = 1; k < 64;) {
          const rs = br.decode(c.acTable), r = rs >> 4, s = rs & 15;
          if (s) {
            k += r;
            if (k > 63) fail("corrupt AC coefficients (run past the block)");
            blk[off + ZIGZAG[k++]] = br.receive(s);
          } else if (r === 15) k += 16;
          else break;
        }
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
      for (let y = 0; y < by; y++) {
        for (let x = 0; x < bx; x++) {
          restartCheck();
          decodeBlock(c, (y * c.bw + x) * 64);
        }
      }
    } else {
      for (let my = 0; my < mcusY; my++) {
        for (let mx = 0; mx < mcusX; mx++) {
          restartCheck();
          for (const c of sc) {
            for (let v = 0; v < c.v; v++) {
              for (let h = 0; h < c.h; h++) {
                decodeBlock(c, ((my * c.v + v) * c.bw + mx * c.h + h) * 64);
              }
            }
          }
        }
      }
    }
    if (br.pad > br.bits) fail("truncated entropy-coded data");
  }

  // Dequantise and inverse-transform every block into component planes.
  const planes = comps.map((c) => {
    const q = qt[c.tq] ?? fail(`missing quantisation table ${c.tq}`);
    const stride = c.bw * 8;
    const plane = new Uint8Array(stride * c.bh * 8);
    const blk = new Float64Array(64);
    for (let by = 0; by < c.bh; by++) {
      for (let bx = 0; bx < c.bw; bx++) {
        const off = (by * c.bw + bx) * 64;
        for (let i = 0; i < 64; i++) blk[i] = c.coefs[off + i] * q[i];
        idct8x8(blk);
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            const v = blk[y * 8 + x] + 128;
            plane[(by * 8 + y) * stride + bx * 8 + x] = v < 0 ? 0 : v > 255 ? 255 : v;
          }
        }
      }
    }
    return upsample(plane, stride, c, hmax, vmax, width, height);
  });

  const nc = comps.length;
  const img = newImage(width, height, nc, 8);
  if (nc === 1) { for (let i = 0; i < width * height; i++) img.data[i] = planes[0][i] / 255; }
  else {
    const ycc = adobeTransform !== 0 || !(comps[0].id === 0x52 && comps[1].id === 0x47);
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = ycc
        ? yccToRgb(planes[0][i], planes[1][i], planes[2][i])
        : [planes[0][i], planes[1][i], planes[2][i]];
      img.data[3 * i] = r / 255;
      img.data[3 * i + 1] = g / 255;
      img.data[3 * i + 2] = b / 255;
    }
  }
  return orient(img, orientation);
}

// --- IDCT ---------------------------------------------------------------------------------
// libjpeg's accurate integer IDCT (jidctint.c, "islow": Loeffler–Ligtenberg–Moschytz with
// 13-bit constants and 2 extra bits between passes), so samples match libjpeg exactly.
// Products can pass 2^32, so the arithmetic is in doubles (exact below 2^53) with floor
// division standing in for C's arithmetic right shifts.
const CONST_BITS = 13, PASS1_BITS = 2;
const F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633;
const F1501 = 12299, F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995, F3072 = 25172;
const descale = (x: number, n: number) => Math.floor((x + 2 ** (n - 1)) / 2 ** n);

/** One 1-D pass over 8 values at in[o + k·st]; writes descaled results to out[p + k·ost]. */
function idct1d(
  inp: Float64Array,
  o: number,
  st: number,
  out: Float64Array,
  p: number,
  ost: number,
  shift: number,
): void {
  // Even part
  let z2 = inp[o + 2 * st], z3 = inp[o + 6 * st];
  let z1 = (z2 + z3) * F0541;
  const t2e = z1 - z3 * F1847, t3e = z1 + z2 * F0765;
  z2 = inp[o];
  z3 = inp[o + 4 * st];
  const t0e = (z2 + z3) * 8192, t1e = (z2 - z3) * 8192;
  const t10 = t0e + t3e, t13 = t0e - t3e, t11 = t1e + t2e, t12 = t1e - t2e;
  // Odd part
  let t0 = inp[o + 7 * st], t1 = inp[o + 5 * st], t2 = inp[o + 3 * st], t3 = inp[o + st];
  z1 = t0 + t3;
  z2 = t1 + t2;
  z3 = t0 + t2;
  let z4 = t1 + t3;
  const z5 = (z3 + z4) * F1175;
  t0 *= F0298;
  t1 *= F2053;
  t2 *= F3072;
  t3 *= F1501;
  z1 *= -F0899;
  z2 *= -F2562;
  z3 = z3 * -F1961 + z5;
  z4 = z4 * -F0390 + z5;
  t0 += z1 + z3;
  t1 += z2 + z4;
  t2 += z2 + z3;
  t3 += z1 + z4;
  out[p] = descale(t10 + t3, shift);
  out[p + 7 * ost] = descale(t10 - t3, shift);
  out[p + ost] = descale(t11 + t2, shift);
  out[p + 6 * ost] = descale(t11 - t2, shift);
  out[p + 2 * ost] = descale(t12 + t1, shift);
  out[p + 5 * ost] = descale(t12 - t1, shift);
  out[p + 3 * ost] = descale(t13 + t0, shift);
  out[p + 4 * ost] = descale(t13 - t0, shift);
}

const WORK = new Float64Array(64);

/** In place: dequantised coefficients (natural order) → samples without the +128 shift. */
function idct8x8(b: Float64Array): void {
  for (let x = 0; x < 8; x++) idct1d(b, x, 8, WORK, x, 8, CONST_BITS - PASS1_BITS); // columns
  for (let y = 0; y < 8; y++) idct1d(WORK, y * 8, 1, b, y * 8, 1, CONST_BITS + PASS1_BITS + 3); // rows
}

// --- upsampling (libjpeg-turbo's fancy upsampling for 2×1, 2×2 and 1×2) --------------------
function upsample(
  plane: Uint8Array,
  stride: number,
  c: Component,
  hmax: number,
  vmax: number,
  width: number,
  height: number,
): Uint8Array {
  const fh = hmax / c.h, fv = vmax / c.v;
  const out = new Uint8Array(width * height);
  const cw = c.cw, ch = c.ch;
  const at = (x: number, y: number) => plane[Math.min(y, ch - 1) * stride + x];
  if (fh === 1 && fv === 1) {
    for (let y = 0; y < height; y++) {
      out.set(plane.subarray(y * stride, y * stride + width), y * width);
    }
    return out;
  }
  const row = new Int32Array(2 * cw + 2);
  for (let oy = 0; oy < height; oy++) {
    const sy = fv === 2 ? oy >> 1 : oy;
    // Vertical step: column sums (2×2: 3·near + far; 1×2: finished values) or plain row.
    const nb = fv === 2 ? (oy & 1 ? Math.min(sy + 1, ch - 1) : Math.max(sy - 1, 0)) : sy;
    const col = new Int32Array(cw);
    for (let x = 0; x < cw; x++) col[x] = fv === 2 ? 3 * at(x, sy) + at(x, nb) : at(x, sy);
    if (fh === 1) { // 1×2: (3·near + far + bias) >> 2, bias 1 above, 2 below
      const bias = oy & 1 ? 2 : 1;
      for (let x = 0; x < width; x++) out[oy * width + x] = (col[x] + bias) >> 2;
      continue;
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
    for (let x = 0; x < width; x++) out[oy * width + x] = row[x];
  }
  return out;
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
const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

function yccToRgb(y: number, cb: number, cr: number): [number, number, number] {
  return [clamp8(y + CR_R[cr]), clamp8(y + ((CB_G[cb] + CR_G[cr]) >> 16)), clamp8(y + CB_B[cb])];
}

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
