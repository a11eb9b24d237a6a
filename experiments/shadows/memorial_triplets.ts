// Debevec's memorial triplets one stop apart, fused by `infer` with its defaults (plus any
// flags given): after the one-stop rescale the two results should agree. Prints the median
// log2 ratio of the channels' mean, and its median magnitude, with the pure-blue border of
// the scans left out.
//   deno run -A experiments/shadows/memorial_triplets.ts MEMORIAL_DIR OUT_DIR [INFER_FLAG…]
// (from the project root).

import { readImage } from "../../io/codecs.ts";
import { type Image, toRgb } from "../../io/image.ts";

const [dir, outDir, ...extra] = Deno.args;
if (!dir || !outDir) {
  console.error(
    "usage: deno run -A experiments/shadows/memorial_triplets.ts MEMORIAL_DIR OUT_DIR [INFER_FLAG…]",
  );
  Deno.exit(2);
}
const evs = (await Deno.readTextFile(`${dir}/exposure.txt`)).trim().split(/\s+/).map(Number);
const file = (f: number) => `${dir}/${String(f).padStart(2, "0")}.png`;
await Deno.mkdir(outDir, { recursive: true });

async function fuse(frames: number[]): Promise<Image> {
  const out = `${outDir}/memorial_${frames.join("_")}.hdr`;
  const args = ["run", "-A", "tools/infer.ts", "--ldr", ...frames.map(file)];
  args.push("--ev", frames.map((f) => evs[f - 1]).join(","), "--out", out, ...extra);
  const r = await new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .output();
  if (r.code) throw new Error(new TextDecoder().decode(r.stderr));
  return toRgb(await readImage(out));
}

const middle = toRgb(await readImage(file(8)));
const results = new Map<string, Image>();
for (const t of [[5, 7, 9], [6, 8, 10], [7, 9, 11]]) results.set(t.join(), await fuse(t));
for (const [a, b] of [["6,8,10", "7,9,11"], ["5,7,9", "6,8,10"]]) {
  // b's shortest frame is one stop longer than a's: its units are half a's.
  const x = results.get(a)!, y = results.get(b)!, ratios: number[] = [];
  for (let i = 0; i < x.width * x.height; i++) {
    const [r, g, bl] = [0, 1, 2].map((k) => middle.data[i * 3 + k]);
    if (bl > 0.8 && r < 0.2 && g < 0.2) continue;
    const mean = (img: Image) => (img.data[i * 3] + img.data[i * 3 + 1] + img.data[i * 3 + 2]) / 3;
    if (mean(x) > 0 && mean(y) > 0) ratios.push(Math.log2(mean(y) / 2 / mean(x)));
  }
  const median = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1];
  const signed = median(ratios.slice()), size = median(ratios.map(Math.abs));
  console.log(
    `${a} against ${b}: median log2 ratio ${signed.toFixed(3)} stops, median |log2 ratio| ${
      size.toFixed(3)
    } (${ratios.length} pixels)`,
  );
}
