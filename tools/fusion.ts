// One loaded bracket fused as the flags ask, and its files written: the sequence `infer` and
// the page's worker (tools/serve/) share, so the page's result is infer's. The steps are
// the library's (model/pipeline.ts, imaging/prepare.ts); this file holds the order and
// what the flags mean.

import type { Bracket } from "../io/bracket.ts";
import { writeImage } from "../io/codecs.ts";
import { writeTextAtomic } from "../io/files.ts";
import type { Image } from "../io/image.ts";
import { prepareBracket, type PreparedBracket } from "../imaging/prepare.ts";
import { responseToJson } from "../imaging/response.ts";
import { previewImage } from "../imaging/tonemap.ts";
import type { Anchoring } from "../imaging/anchor.ts";
import type { Extension } from "../imaging/extend.ts";
import type { FuseTimings } from "../model/fuse.ts";
import { type Anchorings, fusePrepared } from "../model/pipeline.ts";
import { BRACKET_FLAGS, bracketOptions } from "./bracket_flags.ts";
import { chooseModel, MODEL_FLAGS, type ModelChoice, useDevice } from "./model_flags.ts";

export const ROLES = ["short", "reference", "long"] as const;

/** Flag values as the parser gives them (model and bracket flags). */
export type FusionFlags = {
  [K in keyof typeof MODEL_FLAGS | keyof typeof BRACKET_FLAGS]?: string | boolean;
};

export interface Fusion {
  bracket: Bracket;
  prepared: PreparedBracket;
  choice: ModelChoice;
  /** Tile side used (0: whole image). */
  tile: number;
  hdr: Image;
  timings: FuseTimings;
  /** The holds to the frames (null: --anchor off). */
  anchoring: Anchorings | null;
  /** Highlights taken from the bracket's frames shorter than the network's short one. */
  extension: Extension;
}

export interface FusionHooks {
  /** One-line notes for people (the chosen frames, alignment, response, model warnings). */
  say: (line: string) => void;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Ground truth, for the s1 variant. */
  gt?: Image;
  /** Called once the model and frames are chosen, before the network runs. */
  onPrepared?: (f: Omit<Fusion, "hdr" | "timings" | "anchoring" | "extension">) => void;
}

/** Chooses the model and the frames, prepares them and runs the network. */
export async function fuseWithFlags(
  bracket: Bracket,
  values: FusionFlags,
  h: FusionHooks,
): Promise<Fusion> {
  const prep = await bracketOptions(
    values as { [K in keyof typeof BRACKET_FLAGS]?: string },
    bracket.files.length,
  );
  useDevice(String(values.device ?? MODEL_FLAGS.device.default));
  const choice = await chooseModel(values, h.say);
  const { width, height } = bracket.ldrs[0];
  const tile = choice.tileFor(width, height);
  const o = { ...prep, steps: choice.steps, seed: choice.seed, tile, onProgress: h.onProgress };
  h.onProgress?.("preparing", 0, 1);
  const prepared = prepareBracket(bracket, o);
  h.onPrepared?.({ bracket, prepared, choice, tile });
  const { hdr, timings, anchoring, extension } = fusePrepared(choice.model, prepared, {
    ...o,
    gt: h.gt,
  });
  if (anchoring) {
    const { reference, passed, shadows } = anchoring;
    const gains = (a: Anchoring, where: string) => {
      const [r, g, b] = a.gain.map((v) => v.toFixed(3));
      return `gains ${where} R ${r}, G ${g}, B ${b}`;
    };
    h.say(
      reference.applied
        ? `tone held to the reference where it is well exposed (${
          (100 * reference.share).toFixed(0)
        }% of the image): ${gains(reference, "over the whole image")}`
        : "tone: the reference is well exposed in under 1% of the image; the network's as it is",
    );
    const [pr, pg, pb] = passed.weight.map((v) => v.toFixed(2));
    h.say(
      passed.applied
        ? `reference passed through where it is cleaner than the network's output: mean ` +
          `weight R ${pr}, G ${pg}, B ${pb}`
        : "reference not passed through: 8-bit frames (their noise, a camera JPEG's above all, " +
          "cannot be measured from one frame)",
    );
    if (shadows.applied) {
      h.say(
        `shadows held to the long frame where the reference is dark (evidence in ${
          (100 * shadows.share).toFixed(0)
        }% of the image): ${gains(shadows, "there")}`,
      );
    }
  }
  if (extension.frames.length) {
    h.say(
      `highlights the short frame clipped (${(100 * extension.highlights).toFixed(1)}% of the ` +
        `image) from the shorter frames ${extension.frames.map((i) => i + 1).join(", ")}`,
    );
  }
  return { bracket, prepared, choice, tile, hdr, timings, anchoring, extension };
}

/** The frames the network saw, by role, with their EVs and alignment. */
export function framesUsed(f: Pick<Fusion, "bracket" | "prepared">) {
  return f.prepared.choice.indices.map((i, k) => ({
    index: i,
    file: f.bracket.files[i],
    ev: f.bracket.evs[i],
    role: ROLES[k],
    alignment: f.prepared.alignments[k],
  }));
}

/**
 * Writes the HDR to `out` (.hdr or .exr), a tone-mapped PNG beside it when asked, and an
 * estimated response as NAME.response.json (for the same camera's next bracket).
 */
export async function writeFusion(
  out: string,
  f: Fusion,
  o: { preview: boolean },
): Promise<{ preview: string | null; response: string | null }> {
  await Deno.mkdir(out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await writeImage(out, f.hdr);
  const preview = o.preview ? out.replace(/\.(hdr|exr)$/i, ".png") : null;
  if (preview) await writeImage(preview, previewImage(f.hdr));
  const response = f.prepared.response?.source === "estimated"
    ? out.replace(/\.(hdr|exr)$/i, ".response.json")
    : null;
  if (response) await writeTextAtomic(response, responseToJson(f.prepared.response!) + "\n");
  return { preview, response };
}
