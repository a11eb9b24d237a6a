// zlib through the streams Deno ships. Inflation stops with an error as soon as the output
// passes the size the container promised, so a decompression bomb cannot exhaust memory.

import { ImageError } from "./image.ts";

export async function inflate(
  data: Uint8Array,
  maxBytes: number,
  file: string,
  what = "zlib data",
): Promise<Uint8Array> {
  const ds = new DecompressionStream("deflate");
  const writer = ds.writable.getWriter();
  const done = writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close()).catch(
    () => {},
  );
  const reader = ds.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new ImageError(file, `${what} inflates to more than the expected ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(file, `corrupt ${what} (${(e as Error).message})`);
  }
  await done;
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate");
  const out = new Response(cs.readable).arrayBuffer();
  const writer = cs.writable.getWriter();
  await writer.write(data as Uint8Array<ArrayBuffer>);
  await writer.close();
  return new Uint8Array(await out);
}
