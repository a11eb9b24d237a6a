// Handheld versions of real brackets of still scenes, for checking alignment where no
// handheld bracket with a known answer is at hand: every frame but the reference (the
// middle one) is moved by a random similarity, 16–24 px of translation and up to ±0.4° of
// rotation about the centre (bilinear), and every frame is cropped by 40 px so none has an
// empty border. Frames are written as PNG beside the bracket's EVs (exposure.txt); score them
// with `deno task eval --real OUT` against `--align off`.
//   deno run -A experiments/handheld.ts OUT SEED BRACKET_DIR…

import { warpImage } from "../imaging/align.ts";
import { loadBracketFolder } from "../io/bracket.ts";
import { writeImage } from "../io/codecs.ts";
import { type Image, newImage, toRgb } from "../io/image.ts";
import { Rng } from "../ops/rng.ts";

const MARGIN = 40;
const [out, seed, ...dirs] = Deno.args;
if (!out || !dirs.length) {
  console.error("usage: deno run -A experiments/handheld.ts OUT SEED BRACKET_DIR…");
  Deno.exit(2);
}
const rng = new Rng(Number(seed));

/** `img` seen through a camera moved by (dx, dy) px and turned by th radians, cropped. */
function moved(img: Image, dx: number, dy: number, th: number): Image {
  const { width: w, height: h } = img, ow = w - 2 * MARGIN, oh = h - 2 * MARGIN;
  // Output pixel (x, y) is (x + MARGIN, y + MARGIN) of the frame, turned about its centre.
  const cs = Math.cos(th), sn = Math.sin(th), cx = MARGIN - w / 2, cy = MARGIN - h / 2;
  const matrix = [
    cs,
    -sn,
    cs * cx - sn * cy + w / 2 + dx,
    sn,
    cs,
    sn * cx + cs * cy + h / 2 + dy,
    0,
    0,
    1,
  ];
  const { image } = warpImage(toRgb(img), matrix, () => 0);
  const o = newImage(ow, oh, 3, img.bitDepth === 16 ? 16 : 8);
  for (let y = 0; y < oh; y++) {
    o.data.set(image.data.subarray(y * w * 3, (y * w + ow) * 3), y * ow * 3);
  }
  return o;
}

for (const dir of dirs) {
  const b = await loadBracketFolder(dir);
  const name = dir.split("/").filter(Boolean).pop()!, to = `${out}/${name}`;
  await Deno.mkdir(to, { recursive: true });
  const ref = Math.floor((b.ldrs.length - 1) / 2), moves: string[] = [];
  for (const [f, img] of b.ldrs.entries()) {
    let [dx, dy, th] = [0, 0, 0];
    if (f !== ref) {
      const size = 16 + 8 * rng.float(), angle = 2 * Math.PI * rng.float();
      [dx, dy, th] = [size * Math.cos(angle), size * Math.sin(angle), (2 * rng.float() - 1) * 0.4];
    }
    moves.push(`${dx.toFixed(1)},${dy.toFixed(1)} px ${th.toFixed(2)}°`);
    const file = `${to}/${String(f + 1).padStart(2, "0")}.png`;
    await writeImage(file, moved(img, dx, dy, th * Math.PI / 180));
  }
  await Deno.writeTextFile(`${to}/exposure.txt`, b.evs.join("\n") + "\n");
  console.log(`${name}: ${moves.join("; ")}`);
}
