// Synthetic training scenes made as training goes: a seed fixes every batch, epochs never
// repeat a scene, a run resumed mid-epoch makes nothing it skips and ends where an
// uninterrupted run does, bit for bit.

import { synthesizeScene, writeScene } from "@lfdiff/datasets/synth.ts";
import { SynthStream, type SynthStreamOptions } from "@lfdiff/datasets/synth_stream.ts";
import { newImage } from "@lfdiff/io/image.ts";
import { encodeRadiance } from "@lfdiff/io/radiance.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";
import { runTool } from "./run_tool.ts";

/** Two small panoramas to make scenes from. */
async function maps(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const seed of [1, 2]) {
    const w = 256, h = 128, img = newImage(w, h, 3, 32), rng = new Rng(seed);
    const f = [1, 2, 3].map(() => 0.05 + 0.2 * rng.float());
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          img.data[(y * w + x) * 3 + c] = 0.3 * (1.2 + Math.sin(f[c] * x + c) * Math.cos(f[c] * y));
        }
      }
    }
    img.data.fill(100, ((h >> 1) * w + 40) * 3, ((h >> 1) * w + 44) * 3); // a lamp
    out.push(`${dir}/map${seed}.hdr`);
    await Deno.writeFile(out.at(-1)!, encodeRadiance(img));
  }
  return out;
}

const options = (from: string[]): SynthStreamOptions => ({
  from,
  width: 96,
  height: 64,
  scenesPerEpoch: 6,
  window: 3,
  size: 32,
  stride: 32,
  batch: 4,
  seed: 5,
});

async function batches(s: SynthStream, epoch: number, from = 0): Promise<string[][]> {
  const out: string[][] = [];
  for await (const b of s.epoch(epoch, from)) {
    out.push([...b.ids, String(b.x[1].toArray().reduce((a, v) => a + v, 0))]);
    b.x.forEach((t) => t.dispose());
    b.gt.dispose();
  }
  return out;
}

Deno.test("the stream: a seed fixes the batches, epochs do not repeat, `from` skips exactly", async () => {
  const dir = await Deno.makeTempDir();
  const a = new SynthStream(options(await maps(dir))),
    b = new SynthStream(options(await maps(dir)));
  try {
    // 3 scenes of 6 crops a window: 4 batches of 4, 2 crops dropped; two windows an epoch.
    strictEqual(a.batchesPerEpoch, 8);
    const first = await batches(a, 0);
    strictEqual(first.length, 8);
    assertEquals(await batches(b, 0), first);
    const scenes = (bs: string[][]) =>
      new Set(bs.flatMap((x) => x.slice(0, -1).map((id) => id.split("@")[0])));
    assertEquals([...scenes(first)].sort(), [0, 1, 2, 3, 4, 5].map((i) => `synth#${i}`));
    const second = await batches(a, 1);
    assertEquals([...scenes(second)].sort(), [6, 7, 8, 9, 10, 11].map((i) => `synth#${i}`).sort());
    assertEquals(await batches(b, 0, 5), first.slice(5));
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the stream: `curve` and `black` reach the cameras, and change only the frames", async () => {
  const dir = await Deno.makeTempDir();
  const from = await maps(dir);
  const a = new SynthStream(options(from)),
    b = new SynthStream({ ...options(from), curve: "srgb" }),
    c = new SynthStream({ ...options(from), curve: "srgb", black: [0.002, 0.006] });
  try {
    const [x, y, z] = [await batches(a, 0), await batches(b, 0), await batches(c, 0)];
    assertEquals(x.map((r) => r.slice(0, -1)), y.map((r) => r.slice(0, -1)), "the same crops");
    assertEquals(y.map((r) => r.slice(0, -1)), z.map((r) => r.slice(0, -1)), "the same crops");
    assert(x.every((r, i) => r.at(-1) !== y[i].at(-1)), "other frames");
    assert(y.every((r, i) => r.at(-1) !== z[i].at(-1)), "other frames");
  } finally {
    a.close();
    b.close();
    c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train with a synth block: --resume mid-epoch ends where an uninterrupted run does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const from = await maps(dir);
    await writeScene(`${dir}/val/Test/001`, synthesizeScene({ width: 64, height: 64, seed: 1 }));
    const cfg = `${dir}/x.json`;
    await Deno.writeTextFile(
      cfg,
      JSON.stringify({
        name: "s",
        data: `${dir}/val`,
        stage: 1,
        model: "tiny",
        crop: 32,
        stride: 32,
        batch: 4,
        lr: 0.003,
        epochs: 100,
        valEvery: 1000,
        valScenes: 1,
        checkpointEvery: 3,
        seed: 2,
        synth: { from, size: "96x64", scenesPerEpoch: 6, window: 3 },
      }),
    );
    const train = (args: string[]) => runTool("train", ["--config", cfg, ...args]);
    strictEqual((await train(["--out", `${dir}/a`, "--max-steps", "10"])).code, 0);
    strictEqual((await train(["--out", `${dir}/b`, "--max-steps", "3"])).code, 0);
    const r = await train(["--out", `${dir}/b`, "--max-steps", "10", "--resume"]);
    strictEqual(r.code, 0, r.err);
    assert(r.err.includes("resumed at step 3"), r.err);
    assertEquals(
      await Deno.readFile(`${dir}/b/weights.safetensors`),
      await Deno.readFile(`${dir}/a/weights.safetensors`),
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/b/log.csv`),
      await Deno.readTextFile(`${dir}/a/log.csv`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
