// An RGB image of width × height from a function of (x, y, channel): the holds' tests build
// their scenes with it.

import type { Image } from "@lfdiff/io/image.ts";

export function rgbImage(
  width: number,
  height: number,
  f: (x: number, y: number, c: number) => number,
): Image {
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = f(x, y, c);
    }
  }
  return { width, height, channels: 3, bitDepth: 32, data };
}
