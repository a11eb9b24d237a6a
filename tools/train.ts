// `deno task train --config EXPERIMENT.json`: LF-Diff's two training stages on a dataset
// folder (Kalantari/Wu layouts or `deno task synth` output). `--help` lists the flags; the
// README lists the experiment fields. The run folder (tools/run_folder.ts) is checkpointed
// every `checkpointEvery` steps, at the end, and on Ctrl-C; `--resume` continues bit for bit.
// Under `mpirun -np N` the N processes train data-parallel (model/data_parallel.ts): each
// takes its share of every batch, and rank 0 alone logs, validates and checkpoints.

import type { DecodeOptions } from "../io/codecs.ts";
import { findScenes, loadScene, type Scene } from "../datasets/dataset.ts";
import { type Image, newImage } from "../io/image.ts";
import { type Batch, CropLoader } from "../datasets/loader.ts";
import { isBlackRange } from "../datasets/synth/camera.ts";
import { SynthStream } from "../datasets/synth_stream.ts";
import { regionScore, wellExposed } from "../imaging/regions.ts";
import { hdrMetrics } from "../imaging/metrics.ts";
import { muLaw } from "../imaging/tonemap.ts";
import { loadLFDiff } from "../model/checkpoint.ts";
import { type LFDiffConfig, PAPER, type Variant } from "../model/config.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { priorStd, type Stage2Mode, teacherFrom, Trainer } from "../model/trainer.ts";
import { DataParallel } from "../model/data_parallel.ts";
import { openCommunicator } from "../ops/collectives.ts";
import { loadVgg19, VGG_EXPORT_HINT } from "../model/vgg.ts";
import { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { decodeOptions, fail, flags, MAX_PIXELS_FLAG, run } from "./cli.ts";
import { configNamed, useDevice, usePrecision } from "./model_flags.ts";
import { RunFolder } from "./run_folder.ts";

interface Experiment {
  name: string;
  data: string;
  stage: 1 | 2;
  /** Stage 1: "s1" (the paper's stage 1) or "baseline" (Table 3's model without a prior). */
  variant: Variant;
  mode?: Stage2Mode;
  /** A configuration name (model/config.ts CONFIGS) or overrides of the paper's. */
  model: string | Partial<LFDiffConfig>;
  stage1?: string;
  crop: number;
  stride: number;
  batch: number;
  accumulate: number;
  lr: number;
  lrStepEpochs: number;
  lrGamma: number;
  epochs: number;
  maxSteps?: number;
  valEvery: number;
  valScenes: number;
  valCrop: number;
  checkpointEvery: number;
  lambda: number;
  vgg?: string;
  seed: number;
  /** Scenes held decoded at once; 0: all that `cacheBytes` holds (crops shuffle across them). */
  cacheScenes: number;
  cacheBytes: number;
  /** Random flips and rotations of the crops (the paper is silent; on by default). */
  augment: boolean;
  /**
   * Stage 2: the DM's prior scale (model/config.ts priorScale): a number, or "auto" for the
   * stage-1 prior's deviation over the first batches. Default 1, the paper's (see the README
   * on stage 2: at our scale "auto" did not help).
   */
  priorScale?: number | "auto";
  /** Joint stage 2: steps that train the diffusion model alone first (model/trainer.ts). */
  warmup?: number;
  /** fp32 (default), bf16 or auto: ops/precision.ts; `--precision` overrides it. */
  precision?: string;
  /**
   * Training scenes made as training goes (datasets/synth_stream.ts) instead of `data`'s
   * Training folder, which then holds only the validation scenes (its Test split).
   */
  synth?: {
    /** Maps and photographs: files or folders, relative to the working directory. */
    from: string[];
    /** Map names kept out (the validation scenes' material). */
    exclude?: string[];
    /** Scene size WxH (default 384x256). */
    size?: string;
    /** Scenes per epoch (default 600). */
    scenesPerEpoch?: number;
    /** Scenes whose crops are shuffled together (default 32). */
    window?: number;
    /**
     * The cameras' output curve: "gamma" (default, frames already in the convention) or
     * "srgb" (sRGB's linear toe, then undone into the convention: real JPEGs' crushed shadows).
     */
    curve?: "gamma" | "srgb";
    /**
     * The cameras' black points [lo, hi] (fractions of white), log-uniform per scene: light
     * below one becomes code 0, as in real camera JPEGs (default none).
     */
    black?: [number, number];
  };
}

const DEFAULTS: Omit<Experiment, "name" | "data" | "stage"> = {
  variant: "s1",
  model: "paper",
  crop: 128,
  stride: 64,
  batch: 64,
  accumulate: 1,
  lr: 1e-4,
  lrStepEpochs: 50,
  lrGamma: 0.1,
  epochs: 300,
  valEvery: 500,
  valScenes: 4,
  valCrop: 0,
  checkpointEvery: 1000,
  lambda: 1e-2,
  seed: 0,
  cacheScenes: 0,
  cacheBytes: 4 * 2 ** 30,
  augment: true,
};

async function readExperiment(path: string): Promise<Experiment> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: ${e instanceof SyntaxError ? "not valid JSON" : "cannot read"}`);
  }
  const x = { ...DEFAULTS, ...raw } as Experiment;
  for (const k of ["name", "data", "stage"] as const) {
    if (x[k] === undefined) throw new Error(`${path}: missing "${k}"`);
  }
  if (x.stage !== 1 && x.stage !== 2) throw new Error(`${path}: "stage" must be 1 or 2`);
  if (x.stage === 1 && x.variant !== "s1" && x.variant !== "baseline") {
    throw new Error(`${path}: stage 1 trains "variant" s1 or baseline, not ${x.variant}`);
  }
  if (x.stage === 2 && !x.stage1) {
    throw new Error(`${path}: stage 2 needs "stage1", the stage-1 weights`);
  }
  if (x.stage === 2 && !["joint", "split", "no-dm", undefined].includes(x.mode)) {
    throw new Error(`${path}: "mode" must be joint, split or no-dm`);
  }
  if (x.synth && !["gamma", "srgb", undefined].includes(x.synth.curve)) {
    throw new Error(`${path}: "synth.curve" must be gamma or srgb`);
  }
  const black = x.synth?.black;
  if (black !== undefined && !isBlackRange(black)) {
    throw new Error(`${path}: "synth.black" must be [lo, hi] with 0 < lo ≤ hi < 0.5`);
  }
  return x;
}

function baseConfig(x: Experiment): LFDiffConfig {
  return typeof x.model === "string" ? configNamed(x.model) : { ...PAPER, ...x.model };
}

/** The stream of synthetic training scenes an experiment's `synth` block asks for. */
function synthStream(
  x: Experiment,
  shard: { rank: number; size: number } | undefined,
  decode: DecodeOptions,
): SynthStream {
  const s = x.synth!, size = /^(\d+)x(\d+)$/.exec(s.size ?? "384x256");
  if (!size) throw new Error(`synth.size must be WxH, got ${s.size}`);
  return new SynthStream({
    from: s.from,
    exclude: s.exclude,
    width: Number(size[1]),
    height: Number(size[2]),
    evs: "mixed",
    bits: "mixed",
    scenesPerEpoch: s.scenesPerEpoch ?? 600,
    window: s.window,
    curve: s.curve,
    black: s.black,
    size: x.crop,
    stride: x.stride,
    batch: x.batch,
    seed: x.seed,
    augment: x.augment,
    shard,
    maxPixels: decode.maxPixels,
  });
}

/** The centre crop of an image (all of it when size is 0 or larger). */
function centreCrop(img: Image, size: number): Image {
  if (!size || (img.width <= size && img.height <= size)) return img;
  const w = Math.min(size, img.width), h = Math.min(size, img.height);
  const x0 = (img.width - w) >> 1, y0 = (img.height - h) >> 1;
  const out = newImage(w, h, img.channels, img.bitDepth);
  for (let y = 0; y < h; y++) {
    const s = ((y0 + y) * img.width + x0) * img.channels;
    out.data.set(img.data.subarray(s, s + w * img.channels), y * w * img.channels);
  }
  return out;
}

/** The held-out scenes, centre-cropped to `crop`. */
async function validationScenes(x: Experiment, decode: DecodeOptions): Promise<Scene[]> {
  const infos = (await findScenes(x.data, "test")).filter((s) => s.gt).slice(0, x.valScenes);
  const out: Scene[] = [];
  for (const info of infos) {
    const s = await loadScene(info, decode);
    out.push({
      ...s,
      ldrs: s.ldrs.map((l) => centreCrop(l, x.valCrop)),
      gt: centreCrop(s.gt!, x.valCrop),
    });
  }
  return out;
}

/**
 * μ-law L1 and PSNR-μ/-L of the model on the scenes, as inference runs it, and PSNR-μ where
 * the reference is well exposed (where the answer is the reference itself: imaging/regions.ts).
 */
function validate(model: LFDiff, scenes: Scene[]) {
  let loss = 0, psnrMu = 0, psnrL = 0, psnrMuWell = 0;
  for (const s of scenes) {
    const { hdr } = fuseBracket(model, s.ldrs, { evs: s.evs, seed: 0, gt: s.gt! });
    const out: Image = { ...hdr, bitDepth: 32 };
    const m = hdrMetrics(out, s.gt!);
    const well = regionScore(out, s.gt!, wellExposed(s.ldrs[1]));
    psnrMuWell += Math.min(well?.psnrMu ?? m.psnrMu, 100) / scenes.length;
    let l1 = 0;
    for (let i = 0; i < hdr.data.length; i++) {
      l1 += Math.abs(muLaw(hdr.data[i]) - muLaw(s.gt!.data[i]));
    }
    loss += l1 / hdr.data.length / scenes.length;
    psnrMu += m.psnrMu / scenes.length;
    psnrL += m.psnrL / scenes.length;
  }
  return { loss, psnrMu, psnrL, psnrMuWell };
}

await run("train", async () => {
  const { values } = flags("train", {
    config: { type: "string", arg: "FILE", help: "the experiment (JSON; see experiments/)" },
    out: { type: "string", arg: "DIR", help: "run folder (default runs/NAME)" },
    data: { type: "string", arg: "DIR", help: "dataset folder (overrides the experiment's)" },
    resume: { type: "boolean", help: "continue the run in the folder from its last checkpoint" },
    "max-steps": { type: "string", arg: "N", help: "stop after N optimiser steps in all" },
    "max-minutes": {
      type: "string",
      arg: "M",
      help: "stop (with a checkpoint) after M minutes of training in this invocation",
    },
    batch: { type: "string", arg: "N", help: "crops per micro-batch (overrides the experiment)" },
    accumulate: { type: "string", arg: "K", help: "micro-batches per optimiser step" },
    seed: {
      type: "string",
      arg: "N",
      help: "seed of the initial weights, the crops' order and the made scenes (overrides the " +
        "experiment; repeat a run under several seeds to see how far chance moves it)",
    },
    vgg: { type: "string", arg: "FILE", help: "VGG19 weights for the perceptual term" },
    device: { type: "string", default: "cpu", arg: "cpu|cuda", help: "where training runs" },
    precision: {
      type: "string",
      arg: "fp32|bf16|auto",
      help: "arithmetic, overriding the experiment's (default fp32): bf16 runs convs and " +
        "matmuls in bfloat16 with fp32 accumulation and fp32 weights where the CPU has it",
    },
    "max-pixels": MAX_PIXELS_FLAG,
    json: { type: "boolean", help: "one JSON summary line on stdout at the end" },
  }, {
    usage: ["--config EXPERIMENT.json [--out DIR] [--resume] [flags]"],
    about:
      "Trains LF-Diff in the paper's two stages. The run folder keeps config.json, log.csv,\n" +
      "val.csv, plot.png, weights.safetensors (for infer/eval) and state.safetensors (the\n" +
      "checkpoint), all rewritten together at every checkpoint. Ctrl-C saves and exits.\n" +
      "Under `mpirun -np N` the N processes train data-parallel, each on its share of every\n" +
      "batch (README: Training on many processes); `kill -USR2` mpirun to save and stop.",
    examples: [
      "--config experiments/synth-tiny-stage1.json",
      "--config experiments/synth-tiny-stage2.json --max-steps 2000",
      "--config experiments/kalantari-stage1.json --resume",
    ],
  });
  // Before the device opens: a CUDA rank opens its own GPU.
  const { comm, notes } = openCommunicator(values.device);
  const dp = new DataParallel(comm), root = dp.isRoot;
  useDevice(values.device);
  if (!values.config) fail("train", "--config EXPERIMENT.json is required (see --help)");
  const x = await readExperiment(values.config);
  if (values["max-steps"] !== undefined) x.maxSteps = Number(values["max-steps"]);
  if (values.batch !== undefined) x.batch = Number(values.batch);
  if (values.accumulate !== undefined) x.accumulate = Number(values.accumulate);
  if (values.seed !== undefined) x.seed = Number(values.seed);
  if (!(Number.isSafeInteger(x.seed) && x.seed >= 0)) {
    fail("train", `seed must be a non-negative integer, got ${x.seed}`);
  }
  for (const k of ["batch", "accumulate", "crop", "stride"] as const) {
    if (!(Number.isInteger(x[k]) && x[k] >= 1)) {
      fail("train", `${k} must be a positive integer, got ${x[k]}`);
    }
  }
  if (values.vgg) x.vgg = values.vgg;
  if (values.data) x.data = values.data;
  if (x.batch < dp.size) fail("train", `batch ${x.batch} is smaller than the ${dp.size} ranks`);
  const say = (s: string) => root && console.error(`train: ${s}`);
  for (const n of notes) say(n);
  if (values.precision !== undefined) x.precision = values.precision;
  if (usePrecision(x.precision ?? "fp32", say) === "bf16") {
    say("bf16: convs and matmuls in bfloat16, fp32 weights, gradients and Adam state");
  }
  if (dp.size > 1) say(`data-parallel over ${comm.description}`);
  const folder = new RunFolder(values.out ?? `runs/${x.name}`);
  if (root && !values.resume && await folder.hasCheckpoint()) {
    fail(
      "train",
      `${folder.dir} already holds a run; pass --resume to continue it or --out for a new folder`,
    );
  }
  if (root) await folder.writeConfig(x);

  // Data
  const decode = decodeOptions(values);
  const train = x.synth ? [] : await findScenes(x.data, "train");
  if (!x.synth && !train.length) {
    fail("train", `${x.data}: no training scenes (folders under a Training/ path)`);
  }
  const val = root ? await validationScenes(x, decode) : [];
  if (!val.length) say("no test scenes with ground truth: validation is off");
  const loaderOptions = {
    size: x.crop,
    stride: x.stride,
    batch: x.batch,
    seed: x.seed,
    cacheScenes: x.cacheScenes,
    cacheBytes: x.cacheBytes,
    augment: x.augment,
    decode,
  };
  const shard = dp.size > 1 ? { rank: dp.rank, size: dp.size } : undefined;
  const loader = x.synth
    ? synthStream(x, shard, decode)
    : new CropLoader(train, { ...loaderOptions, shard });
  if (x.synth) say(`training scenes made as training goes from ${x.synth.from.join(", ")}`);

  // Model, teacher, perceptual network
  if (x.vgg) {
    try {
      await Deno.stat(x.vgg);
    } catch {
      fail(
        "train",
        `${x.vgg}: the VGG19 weights this experiment names are missing; ${VGG_EXPORT_HINT}`,
      );
    }
  }
  const vgg = x.vgg ? await loadVgg19(x.vgg) : null;
  say(
    vgg
      ? `perceptual term on (VGG19 from ${x.vgg}, λ = ${x.lambda})`
      : "no VGG19 weights given (--vgg): the perceptual term is off, L_r is the μ-law L1 alone",
  );
  let model: LFDiff, trainer: Trainer;
  if (x.stage === 1) {
    model = new LFDiff({ ...baseConfig(x), variant: x.variant }, new Rng(x.seed));
    trainer = new Trainer(model, { ...x, stage: 1 }, null, vgg);
  } else {
    const s1 = await loadLFDiff(x.stage1!, { variant: "s1" });
    const mode = x.mode ?? "joint";
    let priorScale = 1;
    if (x.priorScale === "auto") {
      // The stage-1 prior's deviation over the first batches of epoch 0 (the same batches on
      // every resume, so the same number).
      const gts: Tensor[] = [];
      const first = x.synth
        ? synthStream(x, undefined, decode)
        : new CropLoader(train, loaderOptions);
      for await (const b of first.epoch(0)) {
        if (gts.push(b.gt) >= 4) break;
      }
      if (first instanceof SynthStream) first.close();
      priorScale = priorStd(teacherFrom(s1), gts);
    } else if (x.priorScale !== undefined) priorScale = x.priorScale;
    say(`stage 2: the diffusion model works on z / ${priorScale.toPrecision(4)} (priorScale)`);
    model = new LFDiff(
      { ...s1.config, variant: mode === "no-dm" ? "s2-no-dm" : "s2", priorScale },
      new Rng(x.seed),
    );
    const carried = s1.namedParameters().filter(([n]) =>
      n.startsWith("align.") || n.startsWith("dhr.")
    );
    model.loadStateDict(
      new Map(carried.map(([n, p]) => [n, { shape: [...p.shape], data: p.toArray() }])),
      false,
    );
    trainer = new Trainer(model, { ...x, stage: 2, mode }, teacherFrom(s1), vgg);
    say(
      `stage 2 (${mode}) from ${x.stage1}: alignment and DHRNet initialised from stage 1, its LPENet frozen as the target`,
    );
  }
  if (values.resume && root) {
    await folder.resume(model, trainer);
    say(`resumed at step ${trainer.step} (epoch ${trainer.epoch}, batch ${trainer.batchInEpoch})`);
  }
  dp.syncFromRoot(model, trainer);
  if (dp.size > 1) trainer.dataParallel = dp;

  const validateAndLog = () => {
    if (!val.length) return null;
    const r = validate(model, val);
    folder.val.add({
      step: trainer.step,
      loss: r.loss,
      psnr_mu: r.psnrMu,
      psnr_l: r.psnrL,
      psnr_mu_well: r.psnrMuWell,
    });
    say(
      `validation at step ${trainer.step}: μ-law L1 ${r.loss.toFixed(5)}, PSNR-μ ${
        r.psnrMu.toFixed(2)
      } dB, PSNR-L ${r.psnrL.toFixed(2)} dB, PSNR-μ where the reference is well exposed ${
        r.psnrMuWell.toFixed(2)
      } dB`,
    );
    return r;
  };

  let stop = false;
  const onSigint = () => {
    if (stop) Deno.exit(130);
    stop = true;
    say("interrupted: saving a checkpoint at the end of this step (Ctrl-C again to quit at once)");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  // mpirun ends its job on Ctrl-C but passes SIGUSR2 on: `kill -USR2` it to save and stop.
  const usr2 = Deno.build.os !== "windows";
  if (usr2) Deno.addSignalListener("SIGUSR2", onSigint);
  const first = values.resume ? null : validateAndLog();
  const t0 = performance.now(), stepAtStart = trainer.step;
  let lastPrint = 0, batchesPerEpoch = 0, last = first;
  let lastTerms: Record<string, number> = {};
  const maxSteps = x.maxSteps ?? Infinity;
  const deadline = values["max-minutes"] === undefined
    ? Infinity
    : t0 + Number(values["max-minutes"]) * 60_000;
  if (!(deadline > t0)) fail("train", `--max-minutes must be a positive number`);
  // A run resumed at its last step (killed after its final checkpoint) takes no more.
  outer: for (; trainer.epoch < x.epochs && trainer.step < maxSteps; trainer.epoch++) {
    let seen = trainer.batchInEpoch; // batches consumed before a resume are not made again
    let micro: Batch[] = [];
    for await (const b of loader.epoch(trainer.epoch, trainer.batchInEpoch)) {
      seen++;
      micro.push(b);
      if (micro.length < x.accumulate) continue;
      lastTerms = trainer.trainStep(micro);
      trainer.batchInEpoch = seen;
      micro = [];
      if (root) {
        folder.log.add({
          step: trainer.step,
          epoch: trainer.epoch,
          lr: trainer.opt.lr,
          ...lastTerms,
        });
      }
      const now = performance.now();
      const rate = (trainer.step - stepAtStart) / ((now - t0) / 1000);
      const total = Math.min(
        maxSteps,
        batchesPerEpoch ? (x.epochs * batchesPerEpoch) / x.accumulate : Infinity,
      );
      if (now - lastPrint > 1000 || trainer.step === maxSteps) {
        lastPrint = now;
        const eta = Number.isFinite(total)
          ? `, ETA ${((total - trainer.step) / rate).toFixed(0)} s`
          : "";
        const terms = Object.entries(lastTerms).map(([k, v]) => `${k} ${v.toFixed(5)}`).join(", ");
        say(
          `step ${trainer.step}${
            Number.isFinite(total) ? `/${total}` : ""
          } epoch ${trainer.epoch} lr ${trainer.opt.lr.toExponential(1)}: ${terms}; ${
            rate.toFixed(2)
          } it/s${eta}`,
        );
      }
      if (trainer.step % x.valEvery === 0) last = validateAndLog();
      if (root && trainer.step % x.checkpointEvery === 0) await folder.checkpoint(model, trainer);
      // Every rank stops at the same step, whichever was interrupted or ran out of time.
      if (dp.any(trainer.step >= maxSteps || stop || performance.now() >= deadline)) break outer;
      // Let signals in: with every scene in memory the loader never waits on I/O.
      await new Promise((r) => setTimeout(r, 0));
    }
    batchesPerEpoch = seen;
    trainer.batchInEpoch = 0;
  }
  Deno.removeSignalListener("SIGINT", onSigint);
  if (usr2) Deno.removeSignalListener("SIGUSR2", onSigint);
  if (folder.val.rows.at(-1)?.[0] !== trainer.step) last = validateAndLog();
  if (root) await folder.checkpoint(model, trainer);
  if (loader instanceof SynthStream) loader.close();
  comm.close();
  if (!root) return;
  const summary = {
    run: folder.dir,
    stage: x.stage,
    steps: trainer.step,
    interrupted: stop,
    loss: lastTerms.loss ?? null,
    firstValidation: first,
    lastValidation: last,
    seconds: (performance.now() - t0) / 1000,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${
        stop ? "interrupted" : "finished"
      } at step ${trainer.step}: ${folder.weightsPath} (resume with --resume --out ${folder.dir})`,
    );
    if (first && last) {
      console.log(
        `validation PSNR-μ ${first.psnrMu.toFixed(2)} → ${last.psnrMu.toFixed(2)} dB, μ-law L1 ${
          first.loss.toFixed(5)
        } → ${last.loss.toFixed(5)}`,
      );
    }
  }
});
