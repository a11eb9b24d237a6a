// Training end to end on synthetic scenes with the tiny configuration: both stages lower
// the validation loss and raise PSNR-μ over their first evaluation; a resumed run repeats
// the uninterrupted run's losses exactly; Ctrl-C saves and exits cleanly; the VGG19 loader
// reads torchvision-named weights.

import { writeSynthSet } from "@lfdiff/datasets/synth.ts";
import { loadVgg19, Vgg19Features } from "@lfdiff/model/vgg.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { TINY } from "@lfdiff/model/config.ts";
import { teacherFrom, Trainer } from "@lfdiff/model/trainer.ts";
import { readSafetensors, writeSafetensors } from "@lfdiff/io/safetensors.ts";
import { loadLFDiff } from "@lfdiff/model/checkpoint.ts";
import * as T from "@lfdiff/ops/mod.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";
import { runTool, toolCommand } from "./run_tool.ts";
import { randomBatch, STAGE1 } from "./trainer_inputs.ts";

const dataset = (dir: string) =>
  writeSynthSet(`${dir}/data`, 4, { width: 80, height: 64, seed: 100, shake: 2 });

async function experiment(
  dir: string,
  name: string,
  extra: Record<string, unknown>,
): Promise<string> {
  const path = `${dir}/${name}.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      name,
      data: `${dir}/data`,
      model: "tiny",
      crop: 32,
      stride: 16,
      batch: 4,
      lr: 0.003,
      epochs: 100,
      valEvery: 1000,
      valScenes: 1,
      checkpointEvery: 1000,
      cacheScenes: 3,
      seed: 1,
      ...extra,
    }),
  );
  return path;
}

const train = (args: string[]) => runTool("train", args);

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

const losses = async (run: string) =>
  (await Deno.readTextFile(`${run}/log.csv`)).trim().split("\n").slice(1).map((l) => l.split(","));

Deno.test("stage 1 then stage 2 lower the validation loss and raise PSNR-μ", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await dataset(dir);
    const s1 = await train([
      "--config",
      await experiment(dir, "s1", { stage: 1 }),
      "--out",
      `${dir}/s1`,
      "--max-steps",
      "60",
      "--json",
    ]);
    strictEqual(s1.code, 0, s1.err);
    const r1 = JSON.parse(s1.out);
    assert(
      r1.lastValidation.loss < r1.firstValidation.loss,
      `stage 1 val loss ${r1.firstValidation.loss} → ${r1.lastValidation.loss}`,
    );
    assert(
      r1.lastValidation.psnrMu > r1.firstValidation.psnrMu,
      `stage 1 PSNR-μ ${r1.firstValidation.psnrMu} → ${r1.lastValidation.psnrMu}`,
    );
    assert(
      s1.err.includes("perceptual term is off"),
      "says the perceptual term is off without VGG weights",
    );
    for (
      const f of [
        "config.json",
        "weights.safetensors",
        "state.safetensors",
        "log.csv",
        "val.csv",
        "plot.png",
      ]
    ) {
      assert((await Deno.stat(`${dir}/s1/${f}`)).size > 0, f);
    }
    const s2cfg = await experiment(dir, "s2", {
      stage: 2,
      mode: "joint",
      stage1: `${dir}/s1/weights.safetensors`,
    });
    const s2 = await train([
      "--config",
      s2cfg,
      "--out",
      `${dir}/s2`,
      "--max-steps",
      "60",
      "--json",
    ]);
    strictEqual(s2.code, 0, s2.err);
    const r2 = JSON.parse(s2.out);
    assert(
      r2.lastValidation.loss < r2.firstValidation.loss,
      `stage 2 val loss ${r2.firstValidation.loss} → ${r2.lastValidation.loss}`,
    );
    assert(
      r2.lastValidation.psnrMu > r2.firstValidation.psnrMu,
      `stage 2 PSNR-μ ${r2.firstValidation.psnrMu} → ${r2.lastValidation.psnrMu}`,
    );
    const header = (await Deno.readTextFile(`${dir}/s2/log.csv`)).split("\n")[0];
    assertEquals(header, "step,epoch,lr,loss,eps,prior,l1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--resume from step k repeats the uninterrupted run exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await dataset(dir);
    const cfg = await experiment(dir, "r", { stage: 1, checkpointEvery: 4 });
    strictEqual((await train(["--config", cfg, "--out", `${dir}/a`, "--max-steps", "10"])).code, 0);
    strictEqual((await train(["--config", cfg, "--out", `${dir}/b`, "--max-steps", "6"])).code, 0);
    const resumed = await train([
      "--config",
      cfg,
      "--out",
      `${dir}/b`,
      "--max-steps",
      "10",
      "--resume",
    ]);
    strictEqual(resumed.code, 0, resumed.err);
    assert(resumed.err.includes("resumed at step 6"), resumed.err);
    const [a, b] = [await losses(`${dir}/a`), await losses(`${dir}/b`)];
    strictEqual(a.length, 10);
    assertEquals(b, a); // every column of every step, bit for bit
    assertEquals(
      await Deno.readFile(`${dir}/b/weights.safetensors`),
      await Deno.readFile(`${dir}/a/weights.safetensors`),
    );
    const again = await train(["--config", cfg, "--out", `${dir}/a`]);
    assert(again.err.includes("already holds a run; pass --resume"), again.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--seed overrides the experiment's seed, and a bad one is refused in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await dataset(dir);
    const one = await experiment(dir, "s1", { stage: 1 });
    const two = await experiment(dir, "s2", { stage: 1, seed: 2 });
    const steps = ["--max-steps", "3"];
    for (const [cfg, out, more] of [[one, "a", []], [two, "b", []], [one, "c", ["--seed", "2"]]]) {
      const r = await train([
        "--config",
        cfg as string,
        "--out",
        `${dir}/${out}`,
        ...steps,
        ...more,
      ]);
      strictEqual(r.code, 0, r.err);
    }
    const [a, b, c] = [
      await losses(`${dir}/a`),
      await losses(`${dir}/b`),
      await losses(`${dir}/c`),
    ];
    assertEquals(c, b); // --seed 2 is the experiment with seed 2, bit for bit
    assert(a[0][3] !== b[0][3], `seeds 1 and 2 gave the same first loss ${a[0][3]}`);
    strictEqual(JSON.parse(await Deno.readTextFile(`${dir}/c/config.json`)).seed, 2);
    const bad = await train(["--config", one, "--out", `${dir}/d`, "--seed", "1.5"]);
    strictEqual(bad.code, 1);
    strictEqual(bad.err.trim(), "train: seed must be a non-negative integer, got 1.5");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGKILL at random moments: the checkpoint always loads and --resume ends where an uninterrupted run does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await dataset(dir);
    const cfg = await experiment(dir, "k", { stage: 1, checkpointEvery: 1, valEvery: 4 });
    const steps = ["--max-steps", "40"];
    strictEqual((await train(["--config", cfg, "--out", `${dir}/a`, ...steps])).code, 0);
    const rng = new T.Rng(7);
    let kills = 0, finished = false;
    while (!finished) {
      const resume = await exists(`${dir}/b/state.safetensors`);
      const child = toolCommand(
        "train",
        ["--config", cfg, "--out", `${dir}/b`, ...steps, ...(resume ? ["--resume"] : [])],
        { stdout: "null", stderr: "null" },
      ).spawn();
      if (kills < 8) {
        const t = setTimeout(() => child.kill("SIGKILL"), 200 + 1500 * rng.float());
        const status = await child.status;
        clearTimeout(t);
        if (status.signal === "SIGKILL") kills++;
        else finished = status.code === 0;
      } else finished = (await child.status).code === 0;
      if (await exists(`${dir}/b/state.safetensors`)) {
        // Whatever moment the kill hit, the checkpoint is whole.
        const st = await readSafetensors(`${dir}/b/state.safetensors`);
        assert(Number(st.metadata.step) >= 1);
        await loadLFDiff(`${dir}/b/weights.safetensors`);
      }
    }
    assert(kills >= 4, `only ${kills} kills landed`);
    assertEquals(await losses(`${dir}/b`), await losses(`${dir}/a`));
    assertEquals(
      await Deno.readTextFile(`${dir}/b/val.csv`),
      await Deno.readTextFile(`${dir}/a/val.csv`),
    );
    assertEquals(
      await Deno.readFile(`${dir}/b/weights.safetensors`),
      await Deno.readFile(`${dir}/a/weights.safetensors`),
    );
    for await (const e of Deno.readDir(`${dir}/b`)) assert(!e.name.endsWith(".tmp"), e.name);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Ctrl-C saves a checkpoint and exits cleanly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await dataset(dir);
    const cfg = await experiment(dir, "c", { stage: 1 });
    const child = toolCommand("train", ["--config", cfg, "--out", `${dir}/c`], {
      stderr: "piped",
      stdout: "null",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!/step \d+/.test(err)) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    const status = await child.status;
    strictEqual(status.code, 0, err);
    assert(err.includes("interrupted: saving a checkpoint"), err);
    assert((await Deno.stat(`${dir}/c/weights.safetensors`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("VGG19 weights load by torchvision names; bad files are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ref = new Vgg19Features(16);
    T.manualSeed(3);
    const tensors = new Map(
      ref.namedParameters().map((
        [n, p],
      ) => [n, { shape: [...p.shape], data: T.randn(p.shape).toArray() }]),
    );
    tensors.set("classifier.0.weight", { shape: [2, 2], data: new Float32Array(4) }); // ignored
    const wide = new Vgg19Features();
    const full = new Map(
      wide.namedParameters().map((
        [n, p],
      ) => [n, { shape: [...p.shape], data: new Float32Array(p.size) }]),
    );
    await writeSafetensors(`${dir}/vgg.safetensors`, full);
    const vgg = await loadVgg19(`${dir}/vgg.safetensors`);
    strictEqual(vgg.parameters().length, 32);
    assert(vgg.parameters().every((p) => !p.requiresGrad), "VGG is frozen");
    await writeSafetensors(`${dir}/narrow.safetensors`, tensors);
    try {
      await loadVgg19(`${dir}/narrow.safetensors`);
      throw new Error("narrow weights were accepted");
    } catch (e) {
      assert(
        /narrow\.safetensors: not VGG19 weights \(checkpoint "features\.0\.weight" has shape \[4,3,3,3\], the model \[64,3,3,3\]\)/
          .test((e as Error).message),
        (e as Error).message,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gradient accumulation: two half-batches make the same Adam step as the whole batch", () => {
  const rng = new T.Rng(8);
  const x = [0, 1, 2].map(() => rng.uniform(4 * 6 * 16 * 16)), gt = rng.uniform(4 * 3 * 16 * 16);
  const batch = (from: number, n: number) => ({
    x: x.map((a) => T.tensor(a.subarray(from * 6 * 256, (from + n) * 6 * 256), [n, 6, 16, 16])) as [
      T.Tensor,
      T.Tensor,
      T.Tensor,
    ],
    gt: T.tensor(gt.subarray(from * 3 * 256, (from + n) * 3 * 256), [n, 3, 16, 16]),
  });
  const whole = new LFDiff({ ...TINY, variant: "s1" }, new T.Rng(1)),
    halves = new LFDiff({ ...TINY, variant: "s1" }, new T.Rng(1));
  const a = new Trainer(whole, STAGE1).trainStep([batch(0, 4)]);
  const b = new Trainer(halves, STAGE1).trainStep([batch(0, 2), batch(2, 2)]);
  assert(Math.abs(a.loss - b.loss) < 1e-6 * a.loss, `loss ${a.loss} vs ${b.loss}`);
  const pa = whole.parameters(), pb = halves.parameters();
  for (let i = 0; i < pa.length; i++) {
    const [u, v] = [pa[i].toArray(), pb[i].toArray()];
    for (let j = 0; j < u.length; j++) {
      assert(Math.abs(u[j] - v[j]) < 1e-6, `parameter ${i} differs after the step`);
    }
  }
});

Deno.test("joint stage 2 with warmup trains only the diffusion model first, then everything", () => {
  const b = randomBatch(new T.Rng(9), 2);
  const s1 = new LFDiff({ ...TINY, variant: "s1" }, new T.Rng(1));
  const s2 = new LFDiff({ ...TINY, variant: "s2" }, new T.Rng(2));
  const trainer = new Trainer(
    s2,
    { ...STAGE1, stage: 2, mode: "joint", warmup: 2 },
    teacherFrom(s1),
  );
  const snap = (m: { parameters(): T.Tensor[] }) => m.parameters().map((p) => p.toArray().join());
  const dhr0 = snap(s2.dhr), dm0 = snap(s2.denoiser!);
  for (let i = 0; i < 2; i++) {
    const terms = trainer.trainStep([b]);
    assert("l1" in terms && "eps" in terms && "prior" in terms, Object.keys(terms).join());
  }
  assertEquals(snap(s2.dhr), dhr0); // frozen while warming up
  assert(snap(s2.denoiser!).some((p, i) => p !== dm0[i]), "the DM trains during the warmup");
  trainer.trainStep([b]);
  assert(snap(s2.dhr).some((p, i) => p !== dhr0[i]), "the DHRNet trains after the warmup");
});

Deno.test("a bad synth block is refused in one line naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [synth, says] of [
        [{ from: [dir], curve: "log" }, '"synth.curve" must be gamma or srgb'],
        [{ from: [dir], black: [0.01, 0.001] }, '"synth.black" must be [lo, hi]'],
        [{ from: [dir], black: 0.003 }, '"synth.black" must be [lo, hi]'],
      ] as const
    ) {
      const cfg = await experiment(dir, "bad", { stage: 1, synth });
      const r = await train(["--config", cfg, "--out", `${dir}/run`]);
      strictEqual(r.code, 1);
      const lines = r.err.trim().split("\n");
      strictEqual(lines.length, 1, r.err);
      assert(lines[0].includes(cfg) && lines[0].includes(says), r.err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
