// A bracket from files: three LDR images and their exposures in stops. EVs come from the
// caller, or else from the files' EXIF exposure times, relative to the middle (reference)
// frame: EV_i = log2(t_i / t_ref).

import { decodeImage, type DecodeOptions } from "./codecs.ts";
import { exposureTime } from "./exif.ts";
import { type Image, ImageError, toRgb } from "./image.ts";

export interface Bracket {
  files: string[];
  ldrs: Image[];
  evs: number[];
  evSource: "given" | "exif";
}

export async function loadBracket(
  files: string[],
  evs?: number[],
  decode: DecodeOptions = {},
): Promise<Bracket> {
  if (files.length !== 3) {
    throw new ImageError("bracket", `needs 3 LDR frames, got ${files.length}`);
  }
  if (evs && (evs.length !== 3 || evs.some((e) => !Number.isFinite(e)))) {
    throw new ImageError("bracket", `needs 3 exposure values, got ${evs.join(",")}`);
  }
  const ldrs: Image[] = [];
  const times: (number | undefined)[] = [];
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(f);
    } catch {
      throw new ImageError(f, "no such file");
    }
    times.push(exposureTime(bytes));
    ldrs.push(toRgb(await decodeImage(bytes, f, decode)));
  }
  const ref = ldrs[1];
  ldrs.forEach((img, i) => {
    if (img.width !== ref.width || img.height !== ref.height) {
      throw new ImageError(
        files[i],
        `is ${img.width}x${img.height}, the reference ${files[1]} is ${ref.width}x${ref.height}`,
      );
    }
    if (img.bitDepth > 16) {
      throw new ImageError(files[i], "is a floating-point (HDR) image, not an LDR frame");
    }
  });
  if (evs) return { files, ldrs, evs, evSource: "given" };
  const missing = times.findIndex((t) => t === undefined);
  if (missing >= 0) {
    throw new ImageError(
      files[missing],
      "has no EXIF exposure time; give the exposures with --ev, e.g. --ev -2,0,2",
    );
  }
  return { files, ldrs, evs: times.map((t) => Math.log2(t! / times[1]!)), evSource: "exif" };
}
