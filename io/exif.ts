// The two EXIF fields lfdiff uses: Orientation (IFD0, 0x0112) and ExposureTime (Exif IFD,
// 0x829A, a rational in seconds). Reads a TIFF-structured block (a JPEG's APP1 body after
// "Exif\0\0", or a whole TIFF file); malformed EXIF yields nothing rather than an error,
// since it is optional metadata.

export interface Exif {
  orientation?: number;
  exposureTime?: number;
}

export function parseExif(d: Uint8Array, start = 0, end = d.length): Exif {
  const out: Exif = {};
  if (start + 8 > end) return out;
  const le = d[start] === 0x49;
  if (!le && d[start] !== 0x4d) return out;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const ok = (p: number, n: number) => p >= start && p + n <= end;
  const u16 = (p: number) => (ok(p, 2) ? dv.getUint16(p, le) : 0);
  const u32 = (p: number) => (ok(p, 4) ? dv.getUint32(p, le) : 0);
  const entries = (ifd: number, fn: (tag: number, e: number) => void) => {
    const n = u16(ifd);
    for (let i = 0; i < n && i < 1024; i++) {
      const e = ifd + 2 + 12 * i;
      if (!ok(e, 12)) return;
      fn(u16(e), e);
    }
  };
  let exifIfd = 0;
  entries(start + u32(start + 4), (tag, e) => {
    if (tag === 0x0112) {
      const o = u16(e + 8);
      if (o >= 1 && o <= 8) out.orientation = o;
    } else if (tag === 0x8769) exifIfd = start + u32(e + 8);
  });
  if (exifIfd) {
    entries(exifIfd, (tag, e) => {
      if (tag !== 0x829a) return;
      const at = start + u32(e + 8);
      const num = u32(at), den = u32(at + 4);
      if (num > 0 && den > 0) out.exposureTime = num / den;
    });
  }
  return out;
}

/** Exposure time in seconds from a JPEG's or TIFF's EXIF, if present. */
export function exposureTime(bytes: Uint8Array): number | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    let p = 2;
    while (p + 4 <= bytes.length && bytes[p] === 0xff) {
      const m = bytes[p + 1], len = (bytes[p + 2] << 8) | bytes[p + 3];
      if (m === 0xda || m === 0xd9) break;
      if (m === 0xe1 && String.fromCharCode(...bytes.subarray(p + 4, p + 8)) === "Exif") {
        return parseExif(bytes, p + 10, Math.min(bytes.length, p + 2 + len)).exposureTime;
      }
      p += 2 + len;
    }
    return undefined;
  }
  if ((bytes[0] === 0x49 && bytes[1] === 0x49) || (bytes[0] === 0x4d && bytes[1] === 0x4d)) {
    return parseExif(bytes).exposureTime;
  }
  return undefined;
}
