// Files: the one error type every reader and writer of io/ throws ("<file>: <problem>",
// the line users see), and the atomic write they all use: the bytes go to a temporary
// sibling that is renamed over the target, so a crash or a kill never leaves half a file.

export class FileError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = "FileError";
  }
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new FileError(path, `cannot write (${(e as Error).message})`);
  }
}

/** UTF-8 text, written atomically. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text));
}
