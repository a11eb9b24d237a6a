// A user's bracket made ready for the network: the three frames it sees (imaging/frames.ts),
// each presented in the network's convention (imaging/exposure.ts: values whose γ-2.2
// linearisation, divided by 2^EV, is the scene's radiance in shortest-exposure units), with
// EVs from the shortest of the three.

import type { Image } from "../io/image.ts";
import { normaliseEvs } from "./exposure.ts";
import { chooseFrames, type FrameChoice } from "./frames.ts";

export interface PrepareOptions {
  /** Index of the reference frame in the bracket (default: the middle exposure). */
  ref?: number;
}

export interface PreparedBracket {
  /** Short, reference, long, in the network's convention. */
  ldrs: [Image, Image, Image];
  /** Their EVs from the shortest of the three (0,2,4...). */
  evs: [number, number, number];
  choice: FrameChoice;
}

export function prepareBracket(
  ldrs: Image[],
  evs: number[],
  o: PrepareOptions = {},
): PreparedBracket {
  const choice = chooseFrames(evs, o.ref);
  const [a, b, c] = choice.indices;
  return {
    ldrs: [ldrs[a], ldrs[b], ldrs[c]],
    evs: normaliseEvs([evs[a], evs[b], evs[c]]) as [number, number, number],
    choice,
  };
}
