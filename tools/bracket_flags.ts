// Flags that say how a user's bracket becomes the network's three frames, shared by `infer`
// and the page (`serve`), which shows them with these defaults.

import type { PrepareOptions } from "../imaging/prepare.ts";
import { ALIGN_MODES, parseAlignMode } from "../imaging/align.ts";
import { responseFromJson } from "../imaging/response.ts";
import type { Flags } from "./cli.ts";

export const BRACKET_FLAGS = {
  ref: {
    type: "string",
    default: "auto",
    arg: "N|auto",
    help: "reference frame, 1 = the first file (auto: the middle exposure)",
  },
  align: {
    type: "string",
    default: "auto",
    arg: ALIGN_MODES.join("|"),
    help: "handheld alignment to the reference (auto: translation or homography where the " +
      "measured residual says it helps)",
  },
  response: {
    type: "string",
    default: "auto",
    arg: "auto|gamma|FILE",
    help: "the camera's response: estimated from the bracket, γ 2.2 (Kalantari's " +
      "convention), or a curve infer saved (NAME.response.json); RAW frames need none",
  },
  anchor: {
    type: "string",
    default: "on",
    arg: "on|off",
    help: "hold the result to the reference frame's tone and colour where it is well exposed " +
      "(a smooth gain per channel), to the reference itself where it is cleaner than the " +
      "network's output (frames deeper than 8 bits), and to the long frame's tone where the " +
      "reference is dark (off: the network's output as it is)",
  },
} satisfies Flags;

/** The options the flags ask for, checked; `frames` is the bracket's size. */
export async function bracketOptions(
  v: { [K in keyof typeof BRACKET_FLAGS]?: string },
  frames: number,
): Promise<PrepareOptions & { anchor: boolean }> {
  const anchor = v.anchor ?? "on";
  if (anchor !== "on" && anchor !== "off") {
    throw new Error(`--anchor must be on or off, got ${anchor}`);
  }
  const o: PrepareOptions & { anchor: boolean } = { anchor: anchor === "on" };
  const ref = v.ref ?? "auto";
  if (ref !== "auto") {
    const n = Number(ref);
    if (!(Number.isInteger(n) && n >= 1 && n <= frames)) {
      throw new Error(`--ref must be auto or a frame from 1 to ${frames}, got ${ref}`);
    }
    o.ref = n - 1;
  }
  o.align = parseAlignMode(v.align ?? "auto");
  const r = v.response ?? "auto";
  if (r === "auto" || r === "gamma") o.response = r;
  else {
    const text = await Deno.readTextFile(r).catch(() => {
      throw new Error(`--response ${r}: no such file (auto, gamma, or a saved response)`);
    });
    o.response = responseFromJson(text, r);
  }
  return o;
}
