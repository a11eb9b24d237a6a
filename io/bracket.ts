// A bracket from files: 2 or more LDR images and their exposures in stops. EVs come from the
// caller, or else from the files' EXIF exposure times (EV_i = log2(t_i / t_first)), or, for a
// folder, from its exposure.txt. Frames keep the caller's order; the pipeline sorts by EV.
// RAW frames (io/raw.ts) are linear and take their exposure times from the RAW's metadata; a
// bracket is all RAW or all display-encoded (JPEG, PNG, TIFF), and says which.

import { decodeImage, type DecodeOptions } from "./codecs.ts";
import { exposureTime } from "./exif.ts";
import { type Image, ImageError, toRgb } from "./image.ts";
import { decodeRaw, isRaw, RAW_FILE } from "./raw.ts";

/**
 * Brackets hold this many frames at most: cameras offer up to 9 shots, and sequences made
 * for response recovery (Debevec's memorial church, 16) a few more.
 */
export const MAX_FRAMES = 32;

export interface Bracket {
  files: string[];
  ldrs: Image[];
  evs: number[];
  evSource: "given" | "exif" | "exposure.txt";
  /**
   * "display" (also when absent): camera output (JPEG, PNG, TIFF) through a response curve;
   * "linear": RAW frames, linear in scene light with 1.0 at the sensor's saturation.
   */
  encoding?: "display" | "linear";
}

async function readFile(f: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(f);
  } catch {
    throw new ImageError(f, "no such file");
  }
}

export async function loadBracket(
  files: string[],
  evs?: number[],
  decode: DecodeOptions = {},
): Promise<Bracket> {
  if (files.length < 2 || files.length > MAX_FRAMES) {
    throw new ImageError("bracket", `needs 2 to ${MAX_FRAMES} LDR frames, got ${files.length}`);
  }
  if (evs && (evs.length !== files.length || evs.some((e) => !Number.isFinite(e)))) {
    throw new ImageError(
      "bracket",
      `needs ${files.length} exposure values (one per frame), got ${evs.join(",")}`,
    );
  }
  const ldrs: Image[] = [];
  const times: (number | undefined)[] = [];
  const raw: boolean[] = [];
  for (const f of files) {
    const bytes = await readFile(f);
    raw.push(isRaw(bytes, f));
    if (raw.at(-1)) {
      const frame = decodeRaw(bytes, f, decode);
      times.push(frame.exposureTime);
      ldrs.push(frame.image);
    } else {
      times.push(exposureTime(bytes));
      ldrs.push(toRgb(await decodeImage(bytes, f, decode)));
    }
  }
  const rawAt = raw.indexOf(true), otherAt = raw.indexOf(false);
  if (rawAt >= 0 && otherAt >= 0) {
    throw new ImageError(
      "bracket",
      `mixes RAW and other frames (${files[rawAt]} is RAW, ${files[otherAt]} is not)`,
    );
  }
  const encoding = raw[0] ? "linear" : "display";
  const first = ldrs[0];
  ldrs.forEach((img, i) => {
    if (img.width !== first.width || img.height !== first.height) {
      throw new ImageError(
        files[i],
        `is ${img.width}x${img.height}, ${files[0]} is ${first.width}x${first.height}`,
      );
    }
    if (img.bitDepth > 16) {
      throw new ImageError(files[i], "is a floating-point (HDR) image, not an LDR frame");
    }
  });
  if (evs) return { files, ldrs, evs, evSource: "given", encoding };
  const missing = times.findIndex((t) => t === undefined);
  if (missing >= 0) {
    throw new ImageError(
      files[missing],
      `has no EXIF exposure time; give the exposures with --ev, e.g. --ev ${
        files.map((_, i) => 2 * i - 2 * Math.floor((files.length - 1) / 2)).join(",")
      }`,
    );
  }
  return {
    files,
    ldrs,
    evs: times.map((t) => Math.log2(t! / times[0]!)),
    evSource: "exif",
    encoding,
  };
}

const IMAGE_FILE = new RegExp(`\\.(jpe?g|png|tiff?)$|${RAW_FILE.source}`, "i");
const TIFF_FILE = /\.tiff?$/i;

/** EVs listed in a text file (exposure.txt), one per frame, in stops. */
export async function readExposures(path: string): Promise<number[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new ImageError(path, "missing exposure file");
  }
  const evs = text.split(/\s+/).filter((t) => t.length).map(Number);
  if (evs.some((v) => !Number.isFinite(v))) {
    throw new ImageError(path, "exposure values must be numbers (EV in stops)");
  }
  return evs;
}

/**
 * A folder holding one bracket: its image files in name order (only the RAWs where there are
 * any, else only the TIFFs where there are any, as in the Kalantari layout, whose folders
 * also hold previews), with the EVs given, or else those of its exposure.txt (one per frame,
 * any origin), or else EXIF's.
 */
export async function loadBracketFolder(
  dir: string,
  evs?: number[],
  decode: DecodeOptions = {},
): Promise<Bracket> {
  let names: string[] = [];
  let hasList = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name === "exposure.txt") hasList = true;
      else if (IMAGE_FILE.test(e.name) && !e.isDirectory) names.push(e.name);
    }
  } catch {
    throw new ImageError(dir, "no such folder");
  }
  // A camera shooting RAW+JPEG leaves both: the RAWs are the bracket.
  if (names.some((n) => RAW_FILE.test(n))) names = names.filter((n) => RAW_FILE.test(n));
  else if (names.some((n) => TIFF_FILE.test(n))) names = names.filter((n) => TIFF_FILE.test(n));
  const files = names.sort().map((n) => `${dir}/${n}`);
  if (evs || !hasList) return loadBracket(files, evs, decode);
  const list = `${dir}/exposure.txt`, listed = await readExposures(list);
  if (listed.length !== files.length) {
    throw new ImageError(list, `lists ${listed.length} exposures for ${files.length} image files`);
  }
  return { ...(await loadBracket(files, listed, decode)), evSource: "exposure.txt" };
}
