// A minimal DNG writer for the RAW tests: one little-endian IFD holding an uncompressed
// 16-bit Bayer mosaic (CFA photometric, one strip) with the colour tags a DNG reader needs,
// and an EXIF IFD with the exposure time, f-number and ISO. Enough for LibRaw to develop it
// as it would a camera's DNG.

export interface DngFrame {
  width: number;
  height: number;
  /** One 16-bit value per photosite, row-major, black level included. */
  cfa: Uint16Array;
  /** The 2x2 colour filter pattern, row-major: 0 red, 1 green, 2 blue (RGGB is [0,1,1,2]). */
  pattern: [number, number, number, number];
  black: number;
  white: number;
  /** ColorMatrix1: XYZ to camera, row-major 3x3, for CalibrationIlluminant1 D65. */
  colorMatrix: number[];
  /** AsShotNeutral: the camera's values of a neutral under the shot's light (none: no tag). */
  asShotNeutral?: [number, number, number];
  /** Seconds. */
  exposureTime: number;
  fNumber: number;
  iso: number;
  make: string;
  model: string;
  /** TIFF/EXIF Orientation (1, the default: rows top to bottom, columns left to right). */
  orientation?: number;
}

const BYTE = 1, ASCII = 2, SHORT = 3, LONG = 4, RATIONAL = 5, SRATIONAL = 10;
/** Bytes per number stored (a rational is two numbers). */
const WIDTH: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 10: 4 };

interface Entry {
  tag: number;
  type: number;
  values: number[];
}

const ascii = (tag: number, s: string): Entry => ({
  tag,
  type: ASCII,
  values: [...new TextEncoder().encode(s), 0],
});
/** A real number as a rational with a denominator of 10^6 (exact for the tests' values). */
const rational = (tag: number, type: number, xs: number[]): Entry => ({
  tag,
  type,
  values: xs.flatMap((x) => [Math.round(x * 1e6), 1e6]),
});

/** Bytes of one IFD at `at`, values past 4 bytes following it; `next` is the next IFD. */
function ifd(entries: Entry[], at: number, next = 0): Uint8Array {
  entries.sort((a, b) => a.tag - b.tag);
  const head = 2 + 12 * entries.length + 4;
  const bytes = (e: Entry) => WIDTH[e.type] * e.values.length;
  const extra = entries.reduce((n, e) => n + (bytes(e) > 4 ? bytes(e) + (bytes(e) & 1) : 0), 0);
  const out = new Uint8Array(head + extra);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, entries.length, true);
  let free = head;
  entries.forEach((e, i) => {
    const p = 2 + 12 * i;
    const rationals = e.type === RATIONAL || e.type === SRATIONAL;
    const size = bytes(e);
    dv.setUint16(p, e.tag, true);
    dv.setUint16(p + 2, e.type, true);
    dv.setUint32(p + 4, rationals ? e.values.length / 2 : e.values.length, true);
    let w = p + 8;
    if (size > 4) {
      dv.setUint32(p + 8, at + free, true);
      w = free;
      free += size + (size & 1);
    }
    for (const v of e.values) {
      if (e.type === BYTE || e.type === ASCII) dv.setUint8(w++, v);
      else if (e.type === SHORT) (dv.setUint16(w, v, true), w += 2);
      else if (e.type === SRATIONAL) (dv.setInt32(w, v, true), w += 4);
      else (dv.setUint32(w, v, true), w += 4);
    }
  });
  dv.setUint32(head - 4, next, true);
  return out;
}

export function writeDng(f: DngFrame): Uint8Array {
  if (f.cfa.length !== f.width * f.height) throw new Error("writeDng: cfa size mismatch");
  const exif = [
    rational(33434, RATIONAL, [f.exposureTime]),
    rational(33437, RATIONAL, [f.fNumber]),
    { tag: 34855, type: SHORT, values: [f.iso] },
  ];
  // IFD0's size does not depend on the offsets written into it, so lay it out once to
  // measure, then again with the EXIF IFD and the strip placed after it.
  const main = (exifAt: number, stripAt: number): Entry[] => [
    { tag: 254, type: LONG, values: [0] },
    { tag: 256, type: LONG, values: [f.width] },
    { tag: 257, type: LONG, values: [f.height] },
    { tag: 258, type: SHORT, values: [16] },
    { tag: 259, type: SHORT, values: [1] },
    { tag: 262, type: SHORT, values: [32803] },
    ascii(271, f.make),
    ascii(272, f.model),
    { tag: 273, type: LONG, values: [stripAt] },
    { tag: 274, type: SHORT, values: [f.orientation ?? 1] },
    { tag: 277, type: SHORT, values: [1] },
    { tag: 278, type: LONG, values: [f.height] },
    { tag: 279, type: LONG, values: [2 * f.width * f.height] },
    { tag: 284, type: SHORT, values: [1] },
    { tag: 33421, type: SHORT, values: [2, 2] },
    { tag: 33422, type: BYTE, values: [...f.pattern] },
    { tag: 34665, type: LONG, values: [exifAt] },
    { tag: 50706, type: BYTE, values: [1, 4, 0, 0] },
    { tag: 50707, type: BYTE, values: [1, 1, 0, 0] },
    ascii(50708, `${f.make} ${f.model}`),
    { tag: 50714, type: LONG, values: [f.black] },
    { tag: 50717, type: LONG, values: [f.white] },
    rational(50721, SRATIONAL, f.colorMatrix),
    ...(f.asShotNeutral ? [rational(50728, RATIONAL, f.asShotNeutral)] : []),
    { tag: 50778, type: SHORT, values: [21] },
  ];
  const ifd0Size = ifd(main(0, 0), 8).length;
  const exifAt = 8 + ifd0Size, exifBytes = ifd(exif, exifAt);
  const stripAt = exifAt + exifBytes.length;
  const out = new Uint8Array(stripAt + 2 * f.cfa.length);
  out.set([0x49, 0x49, 42, 0, 8, 0, 0, 0]);
  out.set(ifd(main(exifAt, stripAt), 8), 8);
  out.set(exifBytes, exifAt);
  const dv = new DataView(out.buffer);
  f.cfa.forEach((v, i) => dv.setUint16(stripAt + 2 * i, v, true));
  return out;
}
