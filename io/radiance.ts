// Radiance RGBE (.hdr): header lines, a resolution line in any of the eight axis orders,
// then scanlines that are new-style run-length encoded, flat, or old-style RLE. Pixels are
// m·2^(e−136) as OpenCV and Greg Ward's rgbe.c decode them; EXPOSURE lines are ignored, as
// those readers do. Writing: "-Y H +X W" with run-length encoded scanlines.
// Radiance's own tools read the header as a whole, so the "#?RADIANCE" line need not come
// first: files from the wild (Debevec's memorial.hdr) open with a VIEW= line. A few such
// text lines are accepted before it; a file whose header lines end in CR LF has been through
// a text-mode conversion that also inserted 0x0D bytes into its binary pixels, and is refused.

import {
  checkHolds,
  checkSize,
  type DecodeOptions,
  type Image,
  ImageError,
  newImage,
} from "./image.ts";

const MAX_HEADER = 1 << 16;
/** Header-like lines accepted before the magic line, and the longest such line. */
const MAX_LEAD_LINES = 16, MAX_LEAD_LINE = 1024;

/**
 * "#?" at the start, or "#?" and a letter (#?RADIANCE, #?RGBE) after at most MAX_LEAD_LINES
 * non-empty lines of printable ASCII: bounded, and no binary format's magic is such a line.
 */
export function isRadiance(b: Uint8Array): boolean {
  let pos = 0;
  for (let n = 0; n <= MAX_LEAD_LINES; n++) {
    if (b[pos] === 0x23 && b[pos + 1] === 0x3f) {
      return pos === 0 || /[A-Za-z]/.test(String.fromCharCode(b[pos + 2] ?? 0));
    }
    let p = pos;
    while (p - pos < MAX_LEAD_LINE && ((b[p] >= 0x20 && b[p] < 0x7f) || b[p] === 0x09)) p++;
    const lf = b[p] === 0x0d ? p + 1 : p; // CR LF, for the damaged files refused later
    if (p === pos || b[lf] !== 0x0a) return false;
    pos = lf + 1;
  }
  return false;
}

export function decodeRadiance(bytes: Uint8Array, file: string, o: DecodeOptions = {}): Image {
  const fail = (p: string): never => {
    throw new ImageError(file, p);
  };
  if (!isRadiance(bytes)) fail("not a Radiance file (no #? signature)");
  let pos = 0;
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end > MAX_HEADER) fail("truncated or oversized header");
    const s = new TextDecoder("latin1").decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  for (;;) {
    const l = line();
    if (l.endsWith("\r")) {
      fail(
        "looks CRLF-converted (damaged in transfer): its header lines end in CR LF, and the " +
          "same conversion inserts 0x0D bytes into the binary pixel data",
      );
    }
    if (l.trim() === "") break;
    const m = /^FORMAT=(.*)$/.exec(l.trim());
    if (m && m[1] !== "32-bit_rle_rgbe") {
      fail(`unsupported pixel format ${m[1]} (32-bit_rle_rgbe is read)`);
    }
  }
  const res = /^([-+])([XY])\s+(\d+)\s+([-+])([XY])\s+(\d+)\s*$/.exec(line());
  if (!res || res[2] === res[5]) fail("bad resolution line");
  const [, s1, a1, n1s, s2, a2, n2s] = res!;
  const n1 = Number(n1s), n2 = Number(n2s);
  const width = a1 === "X" ? n1 : n2, height = a1 === "Y" ? n1 : n2;
  checkSize(file, width, height, o);
  // The densest scanline is one pixel and old-style runs, each multiplying the count by 256.
  const minLine = 4 + 4 * Math.ceil(Math.log2(n2) / 8);
  checkHolds(file, width, height, n1 * minLine, bytes.length - pos, "scanlines");
  const img = newImage(width, height, 3, 32);
  const scan = new Uint8Array(n2 * 4);
  // Where pixel i of scanline s lands.
  const place = (s: number, i: number): number => {
    const p1 = (a1 === "Y" ? s1 === "-" : s1 === "+") ? s : n1 - 1 - s;
    const p2 = (a2 === "Y" ? s2 === "-" : s2 === "+") ? i : n2 - 1 - i;
    const [x, y] = a1 === "Y" ? [p2, p1] : [p1, p2];
    return (y * width + x) * 3;
  };
  for (let s = 0; s < n1; s++) {
    pos = readScanline(bytes, pos, scan, n2, fail);
    for (let i = 0; i < n2; i++) {
      const e = scan[4 * i + 3], d = place(s, i);
      const f = e === 0 ? 0 : Math.pow(2, e - 136);
      img.data[d] = scan[4 * i] * f;
      img.data[d + 1] = scan[4 * i + 1] * f;
      img.data[d + 2] = scan[4 * i + 2] * f;
    }
  }
  return img;
}

/** Reads one scanline of n RGBE pixels into scan; returns the new position. */
function readScanline(
  b: Uint8Array,
  pos: number,
  scan: Uint8Array,
  n: number,
  fail: (p: string) => never,
): number {
  if (pos + 4 > b.length) fail("truncated pixel data");
  if (n >= 8 && n < 0x8000 && b[pos] === 2 && b[pos + 1] === 2 && (b[pos + 2] & 0x80) === 0) {
    if (((b[pos + 2] << 8) | b[pos + 3]) !== n) fail("scanline length does not match the width");
    pos += 4;
    for (let c = 0; c < 4; c++) {
      for (let i = 0; i < n;) {
        if (pos >= b.length) fail("truncated run-length data");
        let count = b[pos++];
        if (count > 128) {
          count -= 128;
          if (count > n - i || pos >= b.length) {
            fail("corrupt run-length data (run past the scanline)");
          }
          const v = b[pos++];
          for (let k = 0; k < count; k++) scan[4 * (i++) + c] = v;
        } else {
          if (count === 0 || count > n - i || pos + count > b.length) {
            fail("corrupt run-length data");
          }
          for (let k = 0; k < count; k++) scan[4 * (i++) + c] = b[pos++];
        }
      }
    }
    return pos;
  }
  // Flat pixels, with old-style runs (1,1,1,k) repeating the previous pixel k<<shift times.
  let shift = 0;
  for (let i = 0; i < n;) {
    if (pos + 4 > b.length) fail("truncated pixel data");
    if (b[pos] === 1 && b[pos + 1] === 1 && b[pos + 2] === 1) {
      if (i === 0) fail("corrupt old-style run at the start of a scanline");
      const count = b[pos + 3] << shift;
      if (count > n - i) fail("corrupt old-style run past the scanline");
      for (let k = 0; k < count; k++, i++) scan.copyWithin(4 * i, 4 * (i - 1), 4 * i);
      shift += 8;
      if (shift > 24) fail("corrupt old-style run");
    } else {
      scan.set(b.subarray(pos, pos + 4), 4 * i++);
      shift = 0;
    }
    pos += 4;
  }
  return pos;
}

/** Greg Ward's float2rgbe (as in OpenCV): mantissas truncated, negatives clipped to 0. */
function toRgbe(r: number, g: number, b: number, out: Uint8Array, o: number): void {
  r = Math.max(r, 0);
  g = Math.max(g, 0);
  b = Math.max(b, 0);
  const v = Math.max(r, g, b);
  if (!(v >= 1e-32) || !Number.isFinite(v)) {
    out.fill(0, o, o + 4);
    return;
  }
  const e = Math.floor(Math.log2(v)) + 1; // frexp exponent: v = m·2^e, m in [0.5, 1)
  let m = v / Math.pow(2, e);
  let ex = e;
  if (m >= 1) {
    m /= 2;
    ex++;
  } else if (m < 0.5) {
    m *= 2;
    ex--;
  }
  const scale = (m * 256) / v;
  out[o] = Math.floor(r * scale);
  out[o + 1] = Math.floor(g * scale);
  out[o + 2] = Math.floor(b * scale);
  out[o + 3] = ex + 128;
}

/** Radiance file of the image's RGB channels (gray is repeated). */
export function encodeRadiance(img: Image): Uint8Array {
  const { width, height, channels } = img;
  const header = new TextEncoder().encode(
    `#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y ${height} +X ${width}\n`,
  );
  const chunks: Uint8Array[] = [header];
  const px = new Uint8Array(width * 4);
  const rle = width >= 8 && width < 0x8000;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * channels;
      const g = channels >= 3 ? 1 : 0, b = channels >= 3 ? 2 : 0;
      toRgbe(img.data[s], img.data[s + g], img.data[s + b], px, 4 * x);
    }
    chunks.push(rle ? rleScanline(px, width) : px.slice());
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
  return out;
}

/** New-style RLE: each channel as runs (≥ 4 equal bytes) and literal dumps of ≤ 128. */
function rleScanline(px: Uint8Array, n: number): Uint8Array {
  const out: number[] = [2, 2, n >> 8, n & 0xff];
  const ch = new Uint8Array(n);
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < n; i++) ch[i] = px[4 * i + c];
    let i = 0;
    while (i < n) {
      let run = 1;
      while (i + run < n && run < 127 && ch[i + run] === ch[i]) run++;
      if (run >= 4) {
        out.push(128 + run, ch[i]);
        i += run;
        continue;
      }
      // Literal dump up to the next run of ≥ 4.
      let j = i;
      while (j < n && j - i < 128) {
        let r = 1;
        while (j + r < n && r < 4 && ch[j + r] === ch[j]) r++;
        if (r >= 4) break;
        j++;
      }
      out.push(j - i);
      for (let k = i; k < j; k++) out.push(ch[k]);
      i = j;
    }
  }
  return Uint8Array.from(out);
}
