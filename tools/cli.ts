// Flag parsing and exit handling shared by every tool. node:util's parseArgs stands in for
// @std/cli (JSR is unreachable here); swapping it is a change to this file only.

import { parseArgs, type ParseArgsConfig } from "node:util";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses Deno.args; an unknown flag or bad value ends the process with one line. */
export function flags<O extends Options>(tool: string, options: O, args = Deno.args) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
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
