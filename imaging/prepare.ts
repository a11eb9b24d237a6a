// A user's bracket made ready for the network: the three frames it sees (./frames.ts), moved
// into the reference's geometry (./align.ts: a handheld bracket's frames are shifted by tens
// of pixels), each presented in the network's convention (./exposure.ts: values whose γ-2.2
// linearisation, divided by 2^EV, is the scene's radiance in shortest-exposure units), with
// EVs from the shortest of the three. Every frame of the bracket is aligned first (when
// alignment is on), so the response is estimated from pixels that show the same thing; the
// borders a warped frame does not cover are left out of that estimate.
//   Display-referred frames (JPEG, PNG, TIFF from a camera or a raw converter) carry the
//   camera's response: it is estimated from the whole bracket (./response.ts) or taken as
//   given (γ 2.2, or a saved curve), and undone: L' = g(L)^(1/2.2).
//   Linear frames (RAW, developed by io/raw.ts: 1.0 = saturation) need no response:
//   L' = min(L, 1)^(1/2.2).

import { channelAt, type Image } from "../io/image.ts";
import { alignBracket, type AlignMode, type FrameAlignment } from "./align.ts";
import { GAMMA, normaliseEvs } from "./exposure.ts";
import { apply } from "./homography.ts";
import { chooseFrames, type FrameChoice } from "./frames.ts";
import { estimateResponse, gammaResponse, type Response, toConvention } from "./response.ts";

export interface PrepareOptions {
  /** Index of the reference frame in the bracket (default: the middle exposure). */
  ref?: number;
  /** The camera's response: estimated from the bracket ("auto", the default), γ 2.2, or given. */
  response?: "auto" | "gamma" | Response;
  /** Handheld alignment (default auto: from the measured residual). */
  align?: AlignMode;
}

/** What preparing needs of a bracket (io/bracket.ts's Bracket has it). */
export interface Frames {
  ldrs: Image[];
  /** EVs in stops, any origin. */
  evs: number[];
  /** "display" (the default) or "linear" (RAW). */
  encoding?: "display" | "linear";
}

export interface PreparedBracket {
  /** Short, reference, long, in the network's convention. */
  ldrs: [Image, Image, Image];
  /** Their EVs from the shortest of the three (0,2,4...). */
  evs: [number, number, number];
  choice: FrameChoice;
  /** The response that was undone (null for linear frames). */
  response: Response | null;
  /** How each of the three frames was aligned to the reference. */
  alignments: [FrameAlignment, FrameAlignment, FrameAlignment];
  /** Every frame of the bracket in the reference's geometry, as decoded (./extend.ts). */
  aligned: Image[];
  /** Every frame's EV from the network's short frame (negative: shorter than it). */
  alignedEvs: number[];
  encoding: "display" | "linear";
}

/** Pixels of the reference that every warped frame covers (1). */
export function covered(alignments: FrameAlignment[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height).fill(1);
  for (const a of alignments) {
    if (a.mode !== "translation" && a.mode !== "homography") continue;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const [u, v] = apply(a.matrix, x, y);
        if (!(u >= 0 && v >= 0 && u <= width - 1 && v <= height - 1)) out[y * width + x] = 0;
      }
    }
  }
  return out;
}

/** A frame of the bracket in the network's convention (its response undone, or linear). */
export function inConvention(
  img: Image,
  p: Pick<PreparedBracket, "encoding" | "response">,
): Image {
  if (p.encoding === "linear") return linearToConvention(img);
  return p.response!.source === "gamma" ? img : toConvention(img, p.response!);
}

/** A linear frame (1.0 = saturation) in the convention. */
function linearToConvention(img: Image): Image {
  const n = img.width * img.height, out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = channelAt(img, i, k);
      out[i * 3 + k] = v <= 0 ? 0 : v >= 1 ? 1 : Math.pow(v, 1 / GAMMA);
    }
  }
  return { ...img, channels: 3, bitDepth: 16, data: out };
}

export function prepareBracket(
  { ldrs, evs, encoding }: Frames,
  o: PrepareOptions = {},
): PreparedBracket {
  const choice = chooseFrames(evs, o.ref);
  const [a, b, c] = choice.indices;
  const aligned = alignBracket(ldrs, choice.ref, { mode: o.align ?? "auto" });
  const all = aligned.frames, picked = [all[a], all[b], all[c]];
  let response: Response | null = null;
  if (encoding !== "linear") {
    const r = o.response ?? "auto";
    const { width, height } = ldrs[0];
    response = r === "auto"
      ? estimateResponse(all, evs, { mask: covered(aligned.alignments, width, height) })
      : r === "gamma"
      ? gammaResponse()
      : r;
  }
  const how = { encoding: encoding ?? "display", response } as const;
  return {
    ldrs: picked.map((f) => inConvention(f, how)) as [Image, Image, Image],
    evs: normaliseEvs([evs[a], evs[b], evs[c]]) as [number, number, number],
    choice,
    alignments: [a, b, c].map((i) => aligned.alignments[i]) as PreparedBracket["alignments"],
    aligned: all,
    alignedEvs: evs.map((e) => e - evs[a]),
    ...how,
  };
}
