// Flag parsing, help and exit handling shared by every tool. node:util's parseArgs stands in
// for @std/cli (JSR is unreachable here); swapping it is a change to this file only.

import { parseArgs } from "node:util";
import type { DecodeOptions } from "../io/codecs.ts";
import { escapeText } from "../io/files.ts";
import { DEFAULT_MAX_PIXELS } from "../io/image.ts";

/** One flag: its type, default, the placeholder for its value, and a line of help. */
export interface Flag {
  type: "string" | "boolean";
  default?: string | boolean;
  /** Placeholder in the help, e.g. "FILE" (string flags). */
  arg?: string;
  help: string;
}

export type Flags = Record<string, Flag>;

/** What `--help` prints: usage lines, a paragraph, examples. */
export interface Usage {
  usage: string[];
  about: string;
  examples: string[];
}

type Values<F extends Flags> = {
  [K in keyof F]: F[K]["type"] extends "boolean" ? boolean
    : F[K]["default"] extends string ? string
    : string | undefined;
};

export function helpText(tool: string, options: Flags, u: Usage): string {
  const rows = Object.entries(options).map(([name, f]) => {
    const left = `  --${name}${f.type === "string" ? ` ${f.arg ?? "VALUE"}` : ""}`;
    const dflt = f.default === undefined || f.default === false ? "" : ` (default ${f.default})`;
    return [left, f.help + dflt];
  });
  rows.push(["  -h, --help", "this help"]);
  const w = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    ...u.usage.map((l, i) => `${i ? "       " : "usage: "}deno task ${tool} ${l}`),
    "",
    u.about,
    "",
    "flags:",
    ...rows.map(([l, r]) => l.padEnd(w) + r),
    "",
    "examples:",
    ...u.examples.map((e) => `  deno task ${tool} ${e}`),
  ].join("\n");
}

/**
 * Parses Deno.args. `--help`/`-h` prints the help on stdout and exits 0; an unknown flag or
 * a bad value ends the process with one line. A string flag followed by a negative number
 * takes it as its value (`--ev -2,0,2`), which parseArgs alone would call ambiguous.
 */
export function flags<F extends Flags>(
  tool: string,
  options: F,
  usage: Usage,
  args = Deno.args,
): { values: Values<F>; positionals: string[] } {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(helpText(tool, options, usage));
    Deno.exit(0);
  }
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    if (name && options[name]?.type === "string" && /^-[\d.]/.test(args[i + 1] ?? "")) {
      joined.push(`--${name}=${args[++i]}`);
    } else joined.push(args[i]);
  }
  for (const a of joined) {
    const name = /^--?([^=]+)/.exec(a)?.[1];
    if (a === "--") break;
    if (name && !(name in options) && !/^-[\d.]/.test(a)) {
      fail(tool, `unknown option ${a.replace(/=.*/, "")}; see --help`);
    }
  }
  const spec = Object.fromEntries(
    Object.entries(options).map(([k, f]) => [k, { type: f.type, default: f.default }]),
  );
  try {
    const r = parseArgs({ args: joined, options: spec, allowPositionals: true, strict: true });
    return { values: r.values as Values<F>, positionals: r.positionals };
  } catch (e) {
    fail(tool, `${(e as Error).message.split(". ")[0]}; see --help`);
  }
}

/** Every tool that reads images takes this; decoders refuse larger images in one line. */
export const MAX_PIXELS_FLAG = {
  type: "string",
  default: String(DEFAULT_MAX_PIXELS),
  arg: "N",
  help: "refuse images with more pixels (a guard against decompression bombs)",
} as const;

/** The decoder options `--max-pixels` asks for. */
export function decodeOptions(v: { "max-pixels"?: string }): DecodeOptions {
  const n = Number(v["max-pixels"] ?? DEFAULT_MAX_PIXELS);
  if (!(Number.isInteger(n) && n > 0)) {
    throw new Error(`--max-pixels must be a positive integer, got ${v["max-pixels"]}`);
  }
  return { maxPixels: n };
}

/**
 * Prints `tool: message` on stderr and exits 1: the one-line error users see, escaped like
 * FileError's, since any error's message may quote a path or bytes from a file.
 */
export function fail(tool: string, message: string): never {
  console.error(escapeText(`${tool}: ${message}`));
  Deno.exit(1);
}

/** Runs main, turning any thrown error into the one-line failure. */
export async function run(tool: string, main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (e) {
    fail(tool, e instanceof Error ? e.message : String(e));
  }
}
