// Finding and opening a native library: folders the user named come first, then the
// loader's own search by soname, then the usual install folders. A failure lists every place
// tried, and when a file was there but would not load, the loader's reason (a missing
// dependency, an undefined symbol), so the one-line error says what to install or fix.

export interface Found<S extends Deno.ForeignLibraryInterface> {
  lib: Deno.DynamicLibrary<S>;
  path: string;
  /** Companions of the library that would not preload, with the loader's reasons. */
  companionErrors: string[];
}

/** Nothing was found at any of the places tried. */
export class LibraryNotFound extends Error {
  constructor(what: string, tried: string[], hint: string) {
    super(`${what} not found (tried ${tried.join(", ")}); ${hint}`);
    this.name = "LibraryNotFound";
  }
}

/** A file was found but the loader refused it; `failures` are its reasons. */
export class LibraryLoadError extends Error {
  constructor(what: string, failures: string[], tried: string[], hint: string) {
    super(
      `${what} could not be loaded: ${failures.join("; ")} (tried ${tried.join(", ")}); ${hint}`,
    );
    this.name = "LibraryLoadError";
  }
}

export interface SearchOptions {
  /** Folders tried before the loader's search: explicit choices win over installed copies. */
  first?: string[];
  /**
   * Libraries in the same folder to load first, because the library opens them by soname
   * at run time (or needs them and has no RUNPATH), which finds nothing outside the
   * loader's path: NVRTC's builtins, cuBLASLt, cuDNN's sub-libraries.
   */
  companions?: RegExp;
}

/** Folders listed in colon-separated environment variables, in order, skipping unset ones. */
export function envDirs(...vars: string[]): string[] {
  const dirs: string[] = [];
  for (const v of vars) {
    const value = env(v);
    if (value) dirs.push(...value.split(":").filter((d) => d.length > 0));
  }
  return dirs;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: just skip the override
  }
}

/**
 * The loader's reason a candidate did not open, or null when there is simply no such file.
 * Deno wraps dlerror() in its own prefixes; those go.
 */
function loadFailure(path: string, e: Error): string | null {
  const msg = e.message
    .replace(/^(Could not open library: )+/, "")
    .replace(/^Failed to register symbol \S+: Could not obtain symbol from the library: /, "");
  if (msg.startsWith(`${path}: cannot open shared object file: No such file or directory`)) {
    return null;
  }
  return msg.startsWith(path) ? msg : `${path}: ${msg}`;
}

function dlopen<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S> | string | null {
  try {
    return Deno.dlopen(path, symbols);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    return loadFailure(path, e as Error);
  }
}

// Preloaded companions stay open for the life of the process, like the library itself.
const companions: Deno.DynamicLibrary<Record<string, never>>[] = [];

/**
 * Loads the files of `dir` matching `pattern`. They may need each other, so passes repeat
 * while one more loads; returns the reasons of those that never did.
 */
function preload(dir: string, pattern: RegExp): string[] {
  let pending: string[];
  try {
    pending = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => pattern.test(n)).sort();
  } catch {
    return [];
  }
  const reasons = new Map<string, string>();
  for (let progress = true; progress && pending.length > 0;) {
    const left = pending.filter((name) => {
      const r = dlopen(`${dir}/${name}`, {});
      if (typeof r === "object" && r !== null) {
        companions.push(r);
        return false;
      }
      reasons.set(name, r ?? `${dir}/${name}: vanished`);
      return true;
    });
    progress = left.length < pending.length;
    pending = left;
  }
  return pending.map((n) => reasons.get(n)!);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens the first of `names` that loads: inside each of `options.first`, then each bare
 * soname (the dynamic loader's own search), then inside each of `dirs`.
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  what: string,
  names: string[],
  dirs: string[],
  symbols: S,
  hint: string,
  options: SearchOptions = {},
): Found<S> {
  const inDirs = (ds: string[]) => ds.flatMap((d) => names.map((n) => `${d}/${n}`));
  const candidates = [...inDirs(options.first ?? []), ...names, ...inDirs(dirs)];
  const tried: string[] = [], failures: string[] = [];
  for (const path of candidates) {
    tried.push(path);
    const slash = path.lastIndexOf("/");
    const companionErrors = slash >= 0 && options.companions && exists(path)
      ? preload(path.slice(0, slash), options.companions)
      : [];
    const r = dlopen(path, symbols);
    if (typeof r === "object" && r !== null) return { lib: r, path, companionErrors };
    if (r !== null) failures.push(r);
  }
  if (failures.length > 0) throw new LibraryLoadError(what, failures, tried, hint);
  throw new LibraryNotFound(what, tried, hint);
}

/** Folders in `root` whose names match `pattern`, sorted; none when it cannot be read. */
function children(root: string, pattern = /^[^.]/): string[] {
  try {
    return [...Deno.readDirSync(root)]
      .filter((e) => (e.isDirectory || e.isSymlink) && pattern.test(e.name))
      .map((e) => `${root}/${e.name}`)
      .sort();
  } catch {
    return [];
  }
}

/**
 * Every Python site-packages (and Debian dist-packages) folder we can find without running
 * Python: the active virtualenv or conda environment, the prefix of each python3 on PATH,
 * virtualenvs in the working directory and the usual places under $HOME (pyenv, conda,
 * virtualenvwrapper, pipenv, poetry, ~/.local), and the system prefixes.
 */
export function sitePackages(): string[] {
  const home = env("HOME");
  let cwd: string | undefined;
  try {
    cwd = Deno.cwd();
  } catch { /* no --allow-read */ }
  const roots: string[] = [];
  for (const v of ["VIRTUAL_ENV", "CONDA_PREFIX"]) {
    const r = env(v);
    if (r) roots.push(r);
  }
  for (const bin of envDirs("PATH")) {
    if (!exists(`${bin}/python3`)) continue;
    roots.push(bin.replace(/\/[^/]*$/, ""));
    try { // a python3 that links into another prefix (e.g. /usr/local/bin → /opt/python)
      roots.push(Deno.realPathSync(`${bin}/python3`).replace(/\/bin\/[^/]*$/, ""));
    } catch { /* unreadable */ }
  }
  if (cwd) roots.push(`${cwd}/.venv`, `${cwd}/venv`);
  const condas = ["/opt/conda", "/opt/miniconda3", "/opt/miniforge3"];
  if (home) {
    roots.push(`${home}/.local`, `${home}/.venv`, `${home}/venv`);
    for (const d of [".virtualenvs", ".local/share/virtualenvs", ".cache/pypoetry/virtualenvs"]) {
      roots.push(...children(`${home}/${d}`));
    }
    roots.push(...children(`${home}/.pyenv/versions`), ...children(`${home}/.conda/envs`));
    condas.push(
      ...["miniconda3", "miniforge3", "mambaforge", "anaconda3"].map((d) => `${home}/${d}`),
    );
  }
  for (const c of condas) roots.push(c, ...children(`${c}/envs`));
  roots.push("/usr/local", "/usr", "/opt/venv");

  const found = new Map<string, string>(); // real path → the path as found
  for (const root of roots) {
    for (const lib of ["lib", "lib64"]) {
      for (const py of children(`${root}/${lib}`, /^python3(\.\d+)?$/)) {
        for (const sp of ["site-packages", "dist-packages"]) {
          try {
            const real = Deno.realPathSync(`${py}/${sp}`);
            if (!found.has(real)) found.set(real, `${py}/${sp}`);
          } catch { /* not there */ }
        }
      }
    }
  }
  return [...found.values()];
}

/** `sub` folders (e.g. "nvidia/cudnn/lib") that exist under the given site-packages. */
export function wheelDirs(sub: string[], packages = sitePackages()): string[] {
  return packages.flatMap((sp) => sub.map((s) => `${sp}/${s}`)).filter(exists);
}
