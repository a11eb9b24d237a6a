// The HDR photographs of data/README.md ("HDR photographs") made from their Debian packages'
// files: OpenEXR's sample images as Radiance files (negatives clamped: their out-of-gamut
// colours are not light), JPEG XL's HLG test image back to linear Rec. 709, and a Canon RAW
// developed by our own LibRaw path (black level, camera white balance, demosaic, camera matrix
// to linear sRGB). `datasets/fetch_material.sh` runs it on the extracted packages:
//   deno run --allow-read --allow-write --allow-ffi --allow-env datasets/hdr_photos.ts ROOT OUT
// ROOT holds each package extracted into a folder of its name, OUT is the folder written.

import { readImage, writeImage } from "@lfdiff/io/codecs.ts";
import { type Image, toRgb } from "@lfdiff/io/image.ts";

/** ITU-R BT.2100's HLG inverse OETF: signal E' in [0, 1] to normalised scene light. */
export function hlgToLinear(e: number): number {
  const a = 0.17883277, b = 1 - 4 * a, c = 0.5 - a * Math.log(4 * a);
  return e <= 0.5 ? e * e / 3 : (Math.exp((e - c) / a) + b) / 12;
}

/** Linear Rec. 2020 to linear Rec. 709 (BT.2087), rows giving R, G, B. */
export const REC2020_TO_709 = [
  [1.6605, -0.5876, -0.0728],
  [-0.1246, 1.1329, -0.0083],
  [-0.0182, -0.1006, 1.1187],
];

/** An HLG Rec. 2020 image as linear Rec. 709 radiance, negatives (out of gamut) clamped. */
export function hlgRec2020ToLinear709(img: Image): Image {
  const rgb = toRgb(img), out = { ...rgb, data: new Float32Array(rgb.data.length), bitDepth: 32 };
  for (let i = 0; i < rgb.data.length; i += 3) {
    const l = [0, 1, 2].map((k) => hlgToLinear(rgb.data[i + k]));
    for (let k = 0; k < 3; k++) {
      const m = REC2020_TO_709[k];
      out.data[i + k] = Math.max(0, m[0] * l[0] + m[1] * l[1] + m[2] * l[2]);
    }
  }
  return out;
}

function clampNegatives(img: Image): Image {
  const rgb = toRgb(img);
  return { ...rgb, data: rgb.data.map((v) => (v > 0 ? v : 0)) };
}

/** Writes the seven files from the packages extracted under root. */
async function convert(root: string, out: string): Promise<void> {
  const exr = `${root}/psychtoolbox-3-common/usr/share/psychtoolbox-3/PsychDemos/OpenEXRImages`;
  await Deno.mkdir(out, { recursive: true });
  for (const name of ["CandleGlass", "Desk", "Ocean", "StillLife"]) {
    const img = clampNegatives(await readImage(`${exr}/${name}.exr`));
    await writeImage(`${out}/ilm_${name.toLowerCase()}.hdr`, img);
  }
  await Deno.copyFile(`${exr}/GoldenGate.exr`, `${out}/GoldenGate.exr`);
  const room = await readImage(
    `${root}/libjxl-testdata/usr/share/libjxl-testdata/jxl/hdr_room.png`,
  );
  await writeImage(`${out}/hdr_room_linear.hdr`, hlgRec2020ToLinear709(room));
  const raw = await readImage(`${root}/rawtran-doc/usr/share/doc/rawtran/IMG_5952.CR2`);
  await writeImage(`${out}/IMG_5952_linear.hdr`, toRgb(raw));
}

if (import.meta.main) {
  const [root, out] = Deno.args;
  if (!root || !out) {
    console.error("usage: hdr_photos.ts ROOT OUT");
    Deno.exit(2);
  }
  try {
    await convert(root, out);
  } catch (e) {
    console.error(`hdr_photos: ${(e as Error).message}`);
    Deno.exit(1);
  }
  console.log(`hdr_photos: 7 files in ${out}`);
}
