// Files: the one error type every reader and writer of io/ throws ("<file>: <problem>",
// the line users see), and the atomic write they all use: the bytes go to a temporary
// sibling that is renamed over the target, so a crash or a kill never leaves half a file.
// File names and problems quote untrusted bytes (names from headers, paths), so the message
// escapes what is not printable: it stays one line and cannot reorder the terminal's text.

/**
 * Text made safe to print on one line: control, format (bidi overrides included), separator,
 * surrogate, private and unassigned code points become \xHH, \uHHHH or \u{H…}. Printable
 * text, non-ASCII letters included, is kept; escaping twice changes nothing.
 */
export function escapeText(s: string): string {
  return s.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, (c) => {
    const n = c.codePointAt(0)!, hex = n.toString(16).padStart(n < 0x100 ? 2 : 4, "0");
    return n < 0x100 ? `\\x${hex}` : n < 0x10000 ? `\\u${hex}` : `\\u{${hex}}`;
  });
}

export class FileError extends Error {
  /** `file` and `problem` are kept as given; the message escapes them (escapeText). */
  constructor(readonly file: string, readonly problem: string) {
    super(`${escapeText(file)}: ${escapeText(problem)}`);
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
