import type { Chunk } from "./exr_chunk.ts";
import { ImageError } from "./image.ts";

export function dwaDecode(_data: Uint8Array, _chunk: Chunk, file: string): Uint8Array {
  throw new ImageError(file, "DWA compression is not supported");
}
