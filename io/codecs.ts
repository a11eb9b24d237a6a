// Reading and writing images by content and extension. Decoders are chosen by the file's
// magic bytes, encoders by the output extension; writes go to a temporary name and are
// renamed into place so a failed write never leaves a partial file.

import { decodeExr, encodeExr, isExr } from "./exr.ts";
import { writeFileAtomic } from "./files.ts";
import { type DecodeOptions, type Image, ImageError } from "./image.ts";
import { decodeJpeg, isJpeg } from "./jpeg.ts";
import { encodeJpeg, type JpegOptions } from "./jpeg_encode.ts";
import { decodePng, encodePng, isPng } from "./png.ts";
import { decodeRadiance, encodeRadiance, isRadiance } from "./radiance.ts";
import { decodeRaw, isRaw } from "./raw.ts";
import { decodeTiff, encodeTiff, isTiff } from "./tiff.ts";

export type { DecodeOptions };

/**
 * Decodes by content. Every failure is an ImageError ("FILE: problem"); the decoders bound
 * their allocations by the pixel limit and by what the file's data can hold, and an
 * allocation the machine still refuses is reported the same way.
 */
export function decodeImage(
  bytes: Uint8Array,
  file: string,
  o: DecodeOptions = {},
): Promise<Image> {
  return new Promise((resolve) => resolve(decode(bytes, file, o))).catch((e) => {
    if (e instanceof RangeError && /allocation|Invalid typed array length/.test(e.message)) {
      throw new ImageError(file, `not enough memory to decode (${e.message})`);
    }
    throw e;
  }) as Promise<Image>;
}

function decode(b: Uint8Array, file: string, o: DecodeOptions): Image {
  if (isRaw(b, file)) return decodeRaw(b, file, o).image; // before TIFF: most RAWs are TIFFs
  if (isTiff(b)) return decodeTiff(b, file, o);
  if (isPng(b)) return decodePng(b, file, o);
  if (isJpeg(b)) return decodeJpeg(b, file, o);
  if (isRadiance(b)) return decodeRadiance(b, file, o);
  if (isExr(b)) return decodeExr(b, file, o);
  throw new ImageError(
    file,
    "unrecognised image format (TIFF, PNG, JPEG, Radiance .hdr, OpenEXR and camera RAW are read)",
  );
}

export async function readImage(path: string, o: DecodeOptions = {}): Promise<Image> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new ImageError(
      path,
      e instanceof Deno.errors.NotFound ? "no such file" : `cannot read (${(e as Error).message})`,
    );
  }
  return await decodeImage(bytes, path, o);
}

/** JPEG: `quality` (default 92), `subsampling` and `exposureTime` as in JpegOptions. */
export interface WriteOptions extends JpegOptions {
  /** PNG and TIFF bit depth (8 or 16; PNG defaults to 8, TIFF to 16). */
  depth?: 8 | 16;
  /** OpenEXR channel type. */
  exrType?: "half" | "float";
}

export async function encodeImage(
  img: Image,
  path: string,
  o: WriteOptions = {},
): Promise<Uint8Array> {
  const ext = path.toLowerCase().split(".").pop();
  switch (ext) {
    case "png":
      return await encodePng(img, o.depth ?? 8);
    case "tif":
    case "tiff":
      return encodeTiff(img, o.depth ?? 16);
    case "hdr":
      return encodeRadiance(img);
    case "exr":
      return await encodeExr(img, { type: o.exrType ?? "half" });
    case "jpg":
    case "jpeg":
      return encodeJpeg(img, o);
    default:
      throw new ImageError(
        path,
        `cannot write .${ext} files (.png, .tif, .jpg, .hdr and .exr are written)`,
      );
  }
}

/** Atomic write: encode, write a temporary sibling, rename over the target. */
export async function writeImage(path: string, img: Image, o: WriteOptions = {}): Promise<void> {
  const bytes = await encodeImage(img, path, o);
  await writeFileAtomic(path, bytes);
}
