// HDR deghosting datasets on disk. Two layouts are recognised per scene folder:
// - Kalantari: three *.tif LDRs (sorted by name = exposure order), exposure.txt (one EV per
//   line), HDRImg.hdr ground truth;
// - Wu et al.'s renamed copy: input_{1,2,3}_aligned.tif, input_exp.txt, ref_hdr_aligned.hdr.
// A scene without ground truth (the user's own bracket) loads with gt = null. Any folder
// below the root that holds an exposure file is a scene; "Training"/"Test" in its path
// gives its split.
// Scenes load in the exposure convention of imaging/exposure.ts: EVs normalised to the shortest
// frame, and a ground truth that was stored in the units of the file's EVs (−2,0,2 with
// 1.0 = what saturates the reference) scaled by 2^min(EV) into shortest-exposure units.

import { readExposures } from "../io/bracket.ts";
import { type DecodeOptions, readImage } from "../io/codecs.ts";
import { normaliseEvs } from "../imaging/exposure.ts";
import { type Image, ImageError, toRgb } from "../io/image.ts";

export interface SceneInfo {
  dir: string;
  name: string;
  split: "train" | "test" | "other";
  layout: "kalantari" | "wu";
  ldrs: string[];
  exposure: string;
  gt: string | null;
}

export interface Scene {
  info: SceneInfo;
  /** LDR frames, RGB in [0, 1]; the middle one is the reference. */
  ldrs: Image[];
  /** Exposure of each frame in stops, relative to the shortest (0,2,4). */
  evs: number[];
  /** Linear HDR ground truth in shortest-exposure units, aligned with the reference frame. */
  gt: Image | null;
}

/** A folder's entries by name, symbolic links resolved (a dangling one is left out). */
async function entries(
  dir: string,
): Promise<{ name: string; isFile: boolean; isDirectory: boolean }[]> {
  const out: { name: string; isFile: boolean; isDirectory: boolean }[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isSymlink) out.push(e);
    else {
      const st = await Deno.stat(`${dir}/${e.name}`).catch(() => null);
      if (st) out.push({ name: e.name, isFile: st.isFile, isDirectory: st.isDirectory });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Describes the scene in `dir`, or null when it holds no exposure file. */
export async function describeScene(dir: string): Promise<SceneInfo | null> {
  const files = (await entries(dir)).filter((e) => e.isFile).map((e) => e.name);
  const has = (n: string) => files.includes(n);
  const name = dir.split("/").filter(Boolean).pop() ?? dir;
  const parts = dir.split("/");
  const split = parts.includes("Training") ? "train" : parts.includes("Test") ? "test" : "other";
  if (has("input_exp.txt")) {
    return {
      dir,
      name,
      split,
      layout: "wu",
      ldrs: [1, 2, 3].map((i) => `${dir}/input_${i}_aligned.tif`),
      exposure: `${dir}/input_exp.txt`,
      gt: has("ref_hdr_aligned.hdr") ? `${dir}/ref_hdr_aligned.hdr` : null,
    };
  }
  if (has("exposure.txt")) {
    return {
      dir,
      name,
      split,
      layout: "kalantari",
      ldrs: files.filter((f) => /\.tiff?$/i.test(f)).map((f) => `${dir}/${f}`),
      exposure: `${dir}/exposure.txt`,
      gt: has("HDRImg.hdr") ? `${dir}/HDRImg.hdr` : null,
    };
  }
  return null;
}

/** Every scene below root (root itself may be a scene), in path order. */
export async function findScenes(root: string, split?: "train" | "test"): Promise<SceneInfo[]> {
  const out: SceneInfo[] = [];
  const walk = async (dir: string, depth: number) => {
    const s = await describeScene(dir);
    if (s) {
      out.push(s);
      return;
    }
    if (depth >= 4) return;
    for (const e of await entries(dir)) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`, depth + 1);
    }
  };
  try {
    await walk(root.replace(/\/+$/, ""), 0);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ImageError(root, "no such folder");
    throw e;
  }
  return split ? out.filter((s) => s.split === split) : out;
}

/** Decodes a scene's files; `decode` (e.g. a pixel limit) goes to every decoder. */
export async function loadScene(info: SceneInfo, decode: DecodeOptions = {}): Promise<Scene> {
  if (info.ldrs.length !== 3) {
    throw new ImageError(info.dir, `needs 3 LDR frames, found ${info.ldrs.length} .tif files`);
  }
  const given = await readExposures(info.exposure);
  if (given.length !== 3) {
    throw new ImageError(info.exposure, `needs 3 exposure values, found ${given.length}`);
  }
  const ldrs: Image[] = [];
  for (const p of info.ldrs) ldrs.push(toRgb(await readImage(p, decode)));
  let gt = info.gt ? toRgb(await readImage(info.gt, decode)) : null;
  const shift = Math.pow(2, Math.min(...given));
  if (gt && shift !== 1) gt = { ...gt, data: gt.data.map((v) => v * shift) };
  const ref = ldrs[1];
  for (const [i, img] of [...ldrs.entries(), ...(gt ? [[3, gt] as const] : [])]) {
    if (img.width !== ref.width || img.height !== ref.height) {
      const file = i === 3 ? info.gt! : info.ldrs[i];
      throw new ImageError(
        file,
        `is ${img.width}x${img.height}, the reference frame ${ref.width}x${ref.height}`,
      );
    }
  }
  return { info, ldrs, evs: normaliseEvs(given), gt };
}
