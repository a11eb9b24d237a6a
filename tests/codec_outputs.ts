// Files our encoders write, for tests/make_image_fixtures.py to have other tools decode
// (`deno run -A tests/codec_outputs.ts DIR`), and the source image both sides compare to.

import { encodeImage } from "@lfdiff/io/codecs.ts";
import { type Image, newImage } from "@lfdiff/io/image.ts";

/** 23×17 RGB: smooth HDR ramps over [0.001, 300] plus a flat patch (runs for RLE). */
export function outputSource(hdr: boolean): Image {
  const img = newImage(23, 17, 3, 32);
  for (let y = 0; y < 17; y++) {
    for (let x = 0; x < 23; x++) {
      const o = (y * 23 + x) * 3;
      const flat = y < 4 && x < 12;
      for (let c = 0; c < 3; c++) {
        const t = (x + 2 * y + 7 * c) / 80;
        img.data[o + c] = flat ? 0.25 : hdr ? 0.001 * Math.pow(3e5, t) : (t * 1.3) % 1;
      }
    }
  }
  return img;
}

export const OUTPUTS: {
  file: string;
  hdr: boolean;
  options?: { depth?: 8 | 16; exrType?: "half" | "float" };
}[] = [
  { file: "ours.hdr", hdr: true },
  { file: "ours_half.exr", hdr: true, options: { exrType: "half" } },
  { file: "ours_float.exr", hdr: true, options: { exrType: "float" } },
  { file: "ours16.tif", hdr: false },
  { file: "ours8.png", hdr: false, options: { depth: 8 } },
  { file: "ours16.png", hdr: false, options: { depth: 16 } },
];

if (import.meta.main) {
  for (const o of OUTPUTS) {
    await Deno.writeFile(
      `${Deno.args[0]}/${o.file}`,
      await encodeImage(outputSource(o.hdr), o.file, o.options),
    );
  }
}
