// Small C programs built against an installed header, for the tests that hold native
// bindings' sizes, offsets and constants to it; those tests skip where no compiler is found.

/** The first C compiler on PATH (cc, gcc, clang), or null. */
export async function cCompiler(): Promise<string | null> {
  for (const cc of ["cc", "gcc", "clang"]) {
    try {
      if ((await new Deno.Command(cc, { args: ["--version"], stdout: "null" }).output()).success) {
        return cc;
      }
    } catch { /* not installed */ }
  }
  return null;
}

/** Builds `source` with `cc` and runs it: what the program prints. */
export async function runC(cc: string, source: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/probe.c`, source);
    const build = await new Deno.Command(cc, {
      args: [`${dir}/probe.c`, "-o", `${dir}/probe`],
      stderr: "piped",
    }).output();
    if (!build.success) throw new Error(new TextDecoder().decode(build.stderr));
    return new TextDecoder().decode((await new Deno.Command(`${dir}/probe`).output()).stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
