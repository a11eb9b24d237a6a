// Handheld versions of real brackets of still scenes, for checking alignment where no
// handheld bracket with a known answer is at hand: every frame but the reference (the
// middle one) is moved by a random similarity, 16–24 px of translation and up to ±0.4° of
// rotation about the centre (bilinear), and every frame is cropped by 40 px so none has an
// empty border. Frames are written as PNG beside the bracket's EVs (exposure.txt); score them
// with `deno task eval --real OUT` against `--align off`.
//   deno run -A experiments/handheld.ts OUT SEED BRACKET_DIR…

import { loadBracketFolder } from "../io/bracket.ts";
import { writeImage } from "../io/codecs.ts";
import { type Image, newImage } from "../io/image.ts";
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
  const { width: w, height: h, channels: c } = img;
  const ow = w - 2 * MARGIN, oh = h - 2 * MARGIN;
  const o = newImage(ow, oh, 3, img.bitDepth === 16 ? 16 : 8);
  const cs = Math.cos(th), sn = Math.sin(th);
  const at = (x: number, y: number, k: number) => img.data[(y * w + x) * c + Math.min(k, c - 1)];
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const X = x + MARGIN - w / 2, Y = y + MARGIN - h / 2;
      const sx = cs * X - sn * Y + w / 2 + dx, sy = sn * X + cs * Y + h / 2 + dy;
      const x0 = Math.min(Math.max(Math.floor(sx), 0), w - 2);
      const y0 = Math.min(Math.max(Math.floor(sy), 0), h - 2);
      const ax = Math.min(Math.max(sx - x0, 0), 1), ay = Math.min(Math.max(sy - y0, 0), 1);
      for (let k = 0; k < 3; k++) {
        const top = (1 - ax) * at(x0, y0, k) + ax * at(x0 + 1, y0, k);
        const bottom = (1 - ax) * at(x0, y0 + 1, k) + ax * at(x0 + 1, y0 + 1, k);
        o.data[(y * ow + x) * 3 + k] = (1 - ay) * top + ay * bottom;
      }
    }
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
