// Camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, PEF, SRW...) to linear images,
// developed by LibRaw (native/libraw.ts):
// - black level subtracted (LibRaw reads it from the file: per channel, per pattern cell);
// - white balance: the camera's as-shot multipliers (the daylight ones when the file has
//   none), each channel clipped at its saturation × its gain and the gains normalised to the
//   smallest, LibRaw's highlight mode 0: a clipped raw channel comes out at 1.0 in every
//   channel of the camera's white-balanced space, whatever the gains;
// - demosaic: AHD, LibRaw's default;
// - the camera matrix (LibRaw's rgb_cam: the DNG's ColorMatrix, or its table for other
//   cameras) to linear sRGB primaries, applied here in float;
// - normalised so that 1.0 is the sensor's saturation, with no gamma, no auto-brightening,
//   and LibRaw's rescaling of the white level to the brightest pixel turned off (it would
//   make each frame of a bracket its own unit).
// A pixel where any channel clipped is (1, 1, 1) exactly: after the matrix a clipped channel
// would leak a wrong value into the others, so the whole pixel says "saturated", as the
// merge and the network read 1.0. Elsewhere values are ≥ 0 (out-of-gamut negatives are cut)
// and can pass 1 only where the matrix pushes a saturated colour over.

import {
  checkHolds,
  checkSize,
  type DecodeOptions,
  type Image,
  ImageError,
  newImage,
} from "./image.ts";
import { isTiff } from "./tiff.ts";
import {
  DEMOSAIC_AHD,
  HINT,
  IMAGE_BITMAP,
  IO_ERROR,
  type LibRaw,
  OFFSETS,
  openLibRaw,
  strerror,
} from "../native/libraw.ts";
import { LibraryNotFound } from "../native/library.ts";

/** File names of the RAW formats LibRaw reads, by extension. */
export const RAW_FILE = new RegExp(
  "\\.(dng|cr2|cr3|crw|nef|nrw|arw|srf|sr2|raf|orf|rw2|rwl|pef|srw|3fr|fff|iiq|erf|kdc|dcr|" +
    "mos|mef|mrw|x3f)$",
  "i",
);

export interface RawFrame {
  /** Linear light in sRGB primaries, 1.0 = the sensor's saturation; bitDepth 16. */
  image: Image;
  /** Seconds, from the file's metadata. */
  exposureTime?: number;
  iso?: number;
  /** f-number */
  aperture?: number;
  make: string;
  model: string;
  /** Where the white balance came from: the camera's as-shot multipliers, or daylight's. */
  whiteBalance: "as-shot" | "daylight";
}

/** RAW by content (formats with their own signatures, DNGs, CR2s) or by a RAW extension. */
export function isRaw(b: Uint8Array, file: string): boolean {
  const text = (at: number, s: string) =>
    b.length >= at + s.length && [...s].every((c, i) => b[at + i] === c.charCodeAt(0));
  if (
    text(0, "FUJIFILMCCD-RAW") || text(4, "ftypcrx ") || text(0, "IIRO") || text(0, "IIRS") ||
    text(0, "MMOR") || text(0, "IIU\0") || text(0, "\0MRM") || text(0, "FOVb") ||
    text(6, "HEAPCCDR")
  ) return true;
  if (!isTiff(b)) return false;
  return text(8, "CR") || RAW_FILE.test(file) || hasDngVersion(b);
}

/** IFD0 of a TIFF holds DNGVersion (50706): a DNG whatever its name. */
function hasDngVersion(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength), le = b[0] === 0x49;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > b.length) return false;
  const n = dv.getUint16(ifd, le);
  for (let i = 0; i < n && ifd + 2 + 12 * i + 2 <= b.length; i++) {
    if (dv.getUint16(ifd + 2 + 12 * i, le) === 50706) return true;
  }
  return false;
}

let opened: LibRaw | Error | undefined;

function library(file: string): LibRaw {
  if (opened === undefined) {
    try {
      opened = openLibRaw();
    } catch (e) {
      opened = e as Error;
    }
  }
  if (!(opened instanceof Error)) return opened;
  throw new ImageError(
    file,
    opened instanceof LibraryNotFound
      ? `RAW files need LibRaw, which was not found: ${HINT}`
      : `RAW files need LibRaw: ${opened.message}`,
  );
}

/**
 * Output codes at or above this are clipped (the float white-balance scaling, truncated, can
 * leave a saturated channel at 65534).
 */
const CLIPPED = 65534;

/** Develops a RAW file (bytes in memory) to a linear image; see the file comment. */
export function decodeRaw(bytes: Uint8Array, file: string, o: DecodeOptions = {}): RawFrame {
  const lib = library(file), s = lib.symbols;
  const h = s.libraw_init(0);
  if (!h) throw new ImageError(file, "not enough memory for LibRaw");
  const check = (code: number, what: string) => {
    if (code === 0) return;
    const why = code === IO_ERROR ? "its data ends early (truncated?)" : strerror(lib, code);
    throw new ImageError(file, `LibRaw cannot ${what} it: ${why}`);
  };
  try {
    s.libraw_set_dataerror_handler(h, null, null); // LibRaw would print to stderr
    check(s.libraw_open_buffer(h, bytes, BigInt(bytes.length)), "read");
    const rw = s.libraw_get_raw_width(h), rh = s.libraw_get_raw_height(h);
    checkSize(file, rw, rh, o);
    // No RAW codec packs 64 photosites into one byte: a header claiming more is refused
    // before LibRaw allocates for it.
    checkHolds(file, rw, rh, rw * rh / 64, bytes.length, "RAW data");
    check(s.libraw_unpack(h), "unpack");
    const camMul = [0, 1, 2, 3].map((c) => s.libraw_get_cam_mul(h, c));
    const asShot = camMul.slice(0, 3).every((m) => m > 0 && Number.isFinite(m));
    if (asShot) camMul.forEach((m, c) => s.libraw_set_user_mul(h, c, m));
    s.libraw_set_output_color(h, 0); // camera space; the matrix is applied below in float
    s.libraw_set_output_bps(h, 16);
    s.libraw_set_gamma(h, 0, 1);
    s.libraw_set_gamma(h, 1, 1);
    s.libraw_set_no_auto_bright(h, 1);
    s.libraw_set_highlight(h, 0);
    s.libraw_set_demosaic(h, DEMOSAIC_AHD);
    lib.disableAdjustMaximum(h);
    check(s.libraw_dcraw_process(h), "develop");
    const errc = new Int32Array(1);
    const mem = s.libraw_dcraw_make_mem_image(h, errc);
    if (!mem) {
      throw new ImageError(file, `LibRaw cannot copy the image out: ${strerror(lib, errc[0])}`);
    }
    try {
      const image = toLinear(lib, h, mem, file, o);
      return { image, ...metadata(lib, h), whiteBalance: asShot ? "as-shot" : "daylight" };
    } finally {
      s.libraw_dcraw_clear_mem(mem);
    }
  } finally {
    s.libraw_close(h);
  }
}

/** dcraw_make_mem_image's 16-bit camera-space bitmap → linear sRGB floats, clipping flagged. */
function toLinear(
  lib: LibRaw,
  h: Deno.PointerObject,
  mem: Deno.PointerObject,
  file: string,
  o: DecodeOptions,
): Image {
  const p = new Deno.UnsafePointerView(mem), at = OFFSETS.processedImage;
  const type = p.getInt32(at.type), width = p.getUint16(at.width);
  const height = p.getUint16(at.height), colors = p.getUint16(at.colors);
  const bits = p.getUint16(at.bits), size = p.getUint32(at.dataSize);
  if (type !== IMAGE_BITMAP || bits !== 16 || colors < 1 || colors > 4) {
    throw new ImageError(
      file,
      `LibRaw returned an unexpected image (${colors} colours, ${bits}-bit)`,
    );
  }
  checkSize(file, width, height, o);
  if (size < 2 * width * height * colors) {
    throw new ImageError(file, "LibRaw returned a short image");
  }
  const codes = new Uint16Array(
    Deno.UnsafePointerView.getArrayBuffer(mem, 2 * width * height * colors, at.data),
  );
  // rgb_cam over the 16-bit scale; a monochrome sensor's one channel goes to all three.
  const k = new Float64Array(3 * colors);
  for (let i = 0; i < 3; i++) {
    for (let c = 0; c < colors; c++) {
      const w = colors < 3 ? (c === 0 ? 1 : 0) : lib.symbols.libraw_get_rgb_cam(h, i, c);
      k[i * colors + c] = w / 65535;
    }
  }
  const out = newImage(width, height, 3, 16);
  const d = out.data, n = width * height;
  for (let px = 0, q = 0; px < n; px++, q += colors) {
    let clipped = false;
    for (let c = 0; c < colors; c++) if (codes[q + c] >= CLIPPED) clipped = true;
    for (let i = 0; i < 3; i++) {
      let x = 1;
      if (!clipped) {
        x = 0;
        for (let c = 0; c < colors; c++) x += k[i * colors + c] * codes[q + c];
        if (x < 0) x = 0;
      }
      d[3 * px + i] = x;
    }
  }
  return out;
}

function metadata(lib: LibRaw, h: Deno.PointerObject) {
  const s = lib.symbols;
  const other = new Deno.UnsafePointerView(s.libraw_get_imgother(h)!);
  const ip = s.libraw_get_iparams(h)!;
  const positive = (x: number) => (x > 0 && Number.isFinite(x) ? x : undefined);
  const name = (offset: number) => {
    const raw = new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(ip, OFFSETS.iparams.nameSize, offset),
    );
    const end = raw.indexOf(0);
    return new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end)).trim();
  };
  return {
    exposureTime: positive(other.getFloat32(OFFSETS.imgother.shutter)),
    iso: positive(other.getFloat32(OFFSETS.imgother.isoSpeed)),
    aperture: positive(other.getFloat32(OFFSETS.imgother.aperture)),
    make: name(OFFSETS.iparams.make),
    model: name(OFFSETS.iparams.model),
  };
}
