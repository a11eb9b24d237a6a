// Flag parsing and exit handling shared by every tool. node:util's parseArgs stands in for
// @std/cli (JSR is unreachable here); swapping it is a change to this file only.

import { parseArgs, type ParseArgsConfig } from "node:util";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses Deno.args; an unknown flag or bad value ends the process with one line. A string
 * flag followed by a negative number takes it as its value (`--ev -2,0,2`), which
 * parseArgs alone would call ambiguous.
 */
export function flags<O extends Options>(tool: string, options: O, args = Deno.args) {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    if (name && options[name]?.type === "string" && /^-[\d.]/.test(args[i + 1] ?? "")) {
      joined.push(`--${name}=${args[++i]}`);
    } else joined.push(args[i]);
  }
  try {
    return parseArgs({ args: joined, options, allowPositionals: true, strict: true });
  } catch (e) {
    fail(tool, (e as Error).message);
  }
}

/** Prints `tool: message` on stderr and exits 1: the one-line error users see. */
export function fail(tool: string, message: string): never {
  console.error(`${tool}: ${message}`);
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
