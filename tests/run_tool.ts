// Running a command-line tool as a user does (a `deno run` subprocess from the repository
// root), for the tests of tools/*.ts.

const root = new URL("..", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks;

/**
 * Deno's arguments that run tools/NAME.ts with `args` (for a launcher such as mpirun), with the
 * permissions of its `deno task`: the tests run each tool as users do.
 */
export function toolArgs(name: string, args: string[]): string[] {
  const script = `tools/${name}.ts`;
  const task = Object.values(tasks).find((t) =>
    t.startsWith("deno run ") && t.endsWith(` ${script}`)
  );
  if (!task) throw new Error(`deno.json has no task "deno run … ${script}"`);
  return [...task.split(" ").slice(1), ...args];
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
