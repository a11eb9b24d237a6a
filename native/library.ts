// Finding and opening a native library: by soname on the loader path first, then in folders
// named by environment variables, then in the usual install folders. Failure lists every
// place tried so the one-line error tells the user what to install or where to point us.

export interface Found<S extends Deno.ForeignLibraryInterface> {
  lib: Deno.DynamicLibrary<S>;
  path: string;
}

export class LibraryNotFound extends Error {
  constructor(what: string, tried: string[], hint: string) {
    super(`${what} not found (tried ${tried.join(", ")}); ${hint}`);
    this.name = "LibraryNotFound";
  }
}

/** Folders listed in colon-separated environment variables, in order, skipping unset ones. */
export function envDirs(...vars: string[]): string[] {
  const dirs: string[] = [];
  for (const v of vars) {
    let value: string | undefined;
    try {
      value = Deno.env.get(v);
    } catch {
      continue; // no --allow-env: just skip the override
    }
    if (value) dirs.push(...value.split(":").filter((d) => d.length > 0));
  }
  return dirs;
}

/**
 * Opens the first of `names` that loads: each bare soname first (the dynamic loader's own
 * search), then each name inside each of `dirs`.
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  what: string,
  names: string[],
  dirs: string[],
  symbols: S,
  hint: string,
): Found<S> {
  const candidates = [...names, ...dirs.flatMap((d) => names.map((n) => `${d}/${n}`))];
  const tried: string[] = [];
  for (const path of candidates) {
    tried.push(path);
    try {
      return { lib: Deno.dlopen(path, symbols), path };
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) throw e;
    }
  }
  throw new LibraryNotFound(what, tried, hint);
}
