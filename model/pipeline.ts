// From files to an HDR image, the path `infer` and the page (`serve`) share: load the
// bracket (io/bracket.ts), choose and prepare its frames (imaging/prepare.ts), fuse them
// (./fuse.ts), hold the result to the frames (imaging/anchor.ts, imaging/reference_pass.ts),
// extend the highlights from the bracket's other frames (imaging/extend.ts).
// The result is in shortest-exposure units of the frames the network saw.

import { type Bracket, loadBracket, loadBracketFolder } from "../io/bracket.ts";
import type { DecodeOptions, Image } from "../io/image.ts";
import { type Anchoring, anchorShadowsToLong, anchorToReference } from "../imaging/anchor.ts";
import { extendRange, type Extension } from "../imaging/extend.ts";
import { type Passing, passReference } from "../imaging/reference_pass.ts";
import { prepareBracket, type PreparedBracket, type PrepareOptions } from "../imaging/prepare.ts";
import { fuseBracket, type FuseTimings } from "./fuse.ts";
import type { LFDiff } from "./lfdiff.ts";

export interface PipelineOptions extends PrepareOptions {
  /** Exposures in stops, one per file, any origin (default: EXIF, or a folder's exposure.txt). */
  evs?: number[];
  decode?: DecodeOptions;
  /** DDIM steps (default: the model's). */
  steps?: number;
  seed?: number;
  /** Tile side in pixels, 0 = whole image. */
  tile?: number;
  device?: string;
  /**
   * Hold the result to the frames (default true): to the reference's tone where it is well
   * exposed, to the reference itself where it is cleaner than the network's output, to the
   * long frame's tone where the reference is dark.
   */
  anchor?: boolean;
  /** Progress for people watching: a stage, and how far into it. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

/**
 * The holds to the frames, in order: to the reference's tone where it is well exposed
 * (imaging/anchor.ts), the reference passed through where it is cleaner than the network's
 * output (imaging/reference_pass.ts), then to the long frame where the reference is dark.
 */
export interface Anchorings {
  reference: Anchoring;
  passed: Passing;
  shadows: Anchoring;
}

export interface FusionResult {
  /** Linear RGB, shortest-exposure units (1.0 = what saturates the shortest frame used). */
  hdr: Image;
  bracket: Bracket;
  prepared: PreparedBracket;
  timings: FuseTimings;
}

/** Loads a bracket from files (2 or more) or from one folder holding them. */
export function readBracket(
  input: string[] | string,
  o: Pick<PipelineOptions, "evs" | "decode"> = {},
): Promise<Bracket> {
  return typeof input === "string"
    ? loadBracketFolder(input, o.evs, o.decode)
    : loadBracket(input, o.evs, o.decode);
}

/**
 * Fuses a prepared bracket, holds the result to the frames (Anchorings; unless `anchor` is
 * false), then takes highlights the network's short frame clipped from the
 * bracket's shorter frames, if it has any (imaging/extend.ts). `gt` feeds the s1 variant (a
 * stage-1 diagnostic).
 */
export function fusePrepared(
  model: LFDiff,
  prepared: PreparedBracket,
  o: PipelineOptions & { gt?: Image } = {},
): { hdr: Image; timings: FuseTimings; anchoring: Anchorings | null; extension: Extension } {
  const { hdr, timings } = fuseBracket(model, prepared.ldrs, {
    evs: prepared.evs,
    steps: o.steps,
    seed: o.seed,
    tile: o.tile,
    device: o.device,
    gt: o.gt,
    onProgress: o.onProgress,
  });
  const net = { ...hdr, bitDepth: 32 };
  let anchoring: Anchorings | null = null;
  if (o.anchor !== false) {
    const [, ref, long] = prepared.ldrs;
    const reference = anchorToReference(net, ref, prepared.evs[1]);
    const passed = passReference(reference.hdr, ref, prepared.evs[1]);
    const shadows = anchorShadowsToLong(passed.hdr, ref, long, prepared.evs);
    anchoring = { reference, passed, shadows };
  }
  const extension = extendRange(anchoring?.shadows.hdr ?? net, prepared);
  return { hdr: extension.hdr, timings, anchoring, extension };
}

export async function fuseFiles(
  model: LFDiff,
  input: string[] | string,
  o: PipelineOptions = {},
): Promise<FusionResult> {
  const bracket = await readBracket(input, o);
  const prepared = prepareBracket(bracket, o);
  return { ...fusePrepared(model, prepared, o), bracket, prepared };
}
