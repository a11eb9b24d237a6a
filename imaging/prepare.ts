// A user's bracket made ready for the network: the three frames it sees (./frames.ts), each
// presented in the network's convention (./exposure.ts: values whose γ-2.2 linearisation,
// divided by 2^EV, is the scene's radiance in shortest-exposure units), with EVs from the
// shortest of the three.
//   Display-referred frames (JPEG, PNG, TIFF from a camera or a raw converter) carry the
//   camera's response: it is estimated from the whole bracket (./response.ts) or taken as
//   given (γ 2.2, or a saved curve), and undone: L' = g(L)^(1/2.2).
//   Linear frames (RAW, developed by io/raw.ts: 1.0 = saturation) need no response:
//   L' = min(L, 1)^(1/2.2).

import type { Image } from "../io/image.ts";
import { GAMMA, normaliseEvs } from "./exposure.ts";
import { chooseFrames, type FrameChoice } from "./frames.ts";
import { estimateResponse, gammaResponse, type Response, toConvention } from "./response.ts";

export interface PrepareOptions {
  /** Index of the reference frame in the bracket (default: the middle exposure). */
  ref?: number;
  /** The camera's response: estimated from the bracket ("auto", the default), γ 2.2, or given. */
  response?: "auto" | "gamma" | Response;
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
}

/** A linear frame (1.0 = saturation) in the convention. */
function linearToConvention(img: Image): Image {
  const c = img.channels, n = img.width * img.height, out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = img.data[i * c + Math.min(k, c - 1)];
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
  const picked = [ldrs[a], ldrs[b], ldrs[c]];
  let response: Response | null = null;
  let frames: Image[];
  if (encoding === "linear") frames = picked.map(linearToConvention);
  else {
    const r = o.response ?? "auto";
    response = r === "auto" ? estimateResponse(ldrs, evs) : r === "gamma" ? gammaResponse() : r;
    frames = response.source === "gamma" ? picked : picked.map((f) => toConvention(f, response!));
  }
  return {
    ldrs: frames as [Image, Image, Image],
    evs: normaliseEvs([evs[a], evs[b], evs[c]]) as [number, number, number],
    choice,
    response,
  };
}
