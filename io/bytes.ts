// Bounds-checked reading of binary files: every read past the end is a "truncated" error
// naming the file, never a RangeError from deep inside a decoder.

import { ImageError } from "./image.ts";

export class ByteReader {
  readonly view: DataView;
  pos = 0;

  constructor(readonly bytes: Uint8Array, readonly file: string, public little = true) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  fail(problem: string): never {
    throw new ImageError(this.file, problem);
  }

  need(at: number, n: number, what = "data"): void {
    if (at < 0 || n < 0 || at + n > this.bytes.byteLength) {
      this.fail(`truncated (${what} at byte ${at} runs past the end)`);
    }
  }

  u8(at = this.advance(1)): number {
    this.need(at, 1);
    return this.bytes[at];
  }
  u16(at = this.advance(2)): number {
    this.need(at, 2);
    return this.view.getUint16(at, this.little);
  }
  u32(at = this.advance(4)): number {
    this.need(at, 4);
    return this.view.getUint32(at, this.little);
  }
  i32(at = this.advance(4)): number {
    this.need(at, 4);
    return this.view.getInt32(at, this.little);
  }
  f32(at = this.advance(4)): number {
    this.need(at, 4);
    return this.view.getFloat32(at, this.little);
  }
  f64(at = this.advance(8)): number {
    this.need(at, 8);
    return this.view.getFloat64(at, this.little);
  }
  u64(at = this.advance(8)): number {
    this.need(at, 8);
    return Number(this.view.getBigUint64(at, this.little));
  }

  /** n bytes from `at` (a view, no copy). */
  slice(at: number, n: number, what = "data"): Uint8Array {
    this.need(at, n, what);
    return this.bytes.subarray(at, at + n);
  }

  /** Moves the cursor and returns where it was (the default position of the reads above). */
  advance(n: number): number {
    const at = this.pos;
    this.pos += n;
    return at;
  }
}
