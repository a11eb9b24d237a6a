// Running a command-line tool as a user does (a `deno run` subprocess from the repository
// root), for the tests of tools/*.ts.

const root = new URL("..", import.meta.url).pathname;
const PERMISSIONS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env"];

/**
 * Deno's arguments that run tools/NAME.ts with `args` (for a launcher such as mpirun); bench
 * also starts its sides' processes, as its task allows.
 */
export function toolArgs(name: string, args: string[]): string[] {
  const run = name === "bench" ? ["--allow-run"] : [];
  return ["run", ...PERMISSIONS, ...run, `tools/${name}.ts`, ...args];
}

/** The command for tools/NAME.ts with `args`; `o` adds spawn options (piped streams, …). */
export function toolCommand(
  name: string,
  args: string[],
  o: Deno.CommandOptions = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), { args: toolArgs(name, args), cwd: root, ...o });
}

/** Runs tools/NAME.ts to completion: exit code, stdout and stderr as text. */
export async function runTool(
  name: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await toolCommand(name, args).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}
