// Flags that say how a user's bracket becomes the network's three frames, shared by `infer`
// and the page (`serve`), which shows them with these defaults.

import type { PrepareOptions } from "../imaging/prepare.ts";
import type { Flags } from "./cli.ts";

export const BRACKET_FLAGS = {
  ref: {
    type: "string",
    default: "auto",
    arg: "N|auto",
    help: "reference frame, 1 = the first file (auto: the middle exposure)",
  },
} satisfies Flags;

/** The preparation options the flags ask for, checked; `frames` is the bracket's size. */
export function bracketOptions(
  v: { [K in keyof typeof BRACKET_FLAGS]?: string },
  frames: number,
): PrepareOptions {
  const ref = v.ref ?? "auto";
  if (ref === "auto") return {};
  const n = Number(ref);
  if (!(Number.isInteger(n) && n >= 1 && n <= frames)) {
    throw new Error(`--ref must be auto or a frame from 1 to ${frames}, got ${ref}`);
  }
  return { ref: n - 1 };
}
