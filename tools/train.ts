// `deno task train --config EXPERIMENT.json`: LF-Diff's two training stages on a dataset
// folder (Kalantari/Wu layouts or `deno task synth` output).
//   --config FILE   the experiment (see experiments/*.json and the README for the fields)
//   --out DIR       run folder (default runs/NAME); it keeps a copy of the config
//   --resume        continue from DIR's checkpoint, bit for bit
//   --max-steps N   stop after N optimiser steps in total (overrides the config)
//   --batch N  --accumulate K   crops per micro-batch, micro-batches per optimiser step
//   --vgg FILE      VGG19 weights (torchvision names, safetensors) for the perceptual term
//   --device cpu|cuda
//   --json          one JSON summary line on stdout at the end
// The run folder holds weights.safetensors (loadable by infer/eval), state.safetensors
// (optimiser moments, counters, RNG, teacher), log.csv, val.csv and plot.png. Ctrl-C saves
// a checkpoint and exits cleanly.

import { writeFileAtomic } from "../io/files.ts";
import { findScenes, loadScene, type Scene } from "../io/dataset.ts";
import { type Image, newImage } from "../io/image.ts";
import { type Batch, CropLoader } from "../io/loader.ts";
import { hdrMetrics } from "../io/metrics.ts";
import { muLaw } from "../io/tonemap.ts";
import { loadLFDiff, saveLFDiff } from "../model/checkpoint.ts";
import { type LFDiffConfig, PAPER, TINY } from "../model/config.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { type LossTerms, type Stage2Mode, teacherFrom, Trainer } from "../model/trainer.ts";
import { loadVgg19 } from "../model/vgg.ts";
import { Rng } from "../ops/rng.ts";
import { fail, flags, run } from "./cli.ts";
import { useDevice } from "./model_flags.ts";
import { plotPng } from "./plot.ts";

interface Experiment {
  name: string;
  data: string;
  stage: 1 | 2;
  mode?: Stage2Mode;
  model: "paper" | "tiny" | Partial<LFDiffConfig>;
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
  cacheScenes: number;
}

const DEFAULTS: Omit<Experiment, "name" | "data" | "stage"> = {
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
  cacheScenes: 8,
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
  if (x.stage === 2 && !x.stage1) {
    throw new Error(`${path}: stage 2 needs "stage1", the stage-1 weights`);
  }
  if (x.stage === 2 && !["joint", "split", "no-dm", undefined].includes(x.mode)) {
    throw new Error(`${path}: "mode" must be joint, split or no-dm`);
  }
  return x;
}

function baseConfig(x: Experiment): LFDiffConfig {
  if (x.model === "paper") return PAPER;
  if (x.model === "tiny") return TINY;
  return { ...PAPER, ...x.model };
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

await run("train", async () => {
  const { values } = flags("train", {
    config: { type: "string" },
    out: { type: "string" },
    resume: { type: "boolean", default: false },
    "max-steps": { type: "string" },
    batch: { type: "string" },
    accumulate: { type: "string" },
    vgg: { type: "string" },
    device: { type: "string", default: "cpu" },
    json: { type: "boolean", default: false },
  });
  useDevice(values.device!);
  if (!values.config) fail("train", "--config EXPERIMENT.json is required (see experiments/)");
  const x = await readExperiment(values.config);
  if (values["max-steps"] !== undefined) x.maxSteps = Number(values["max-steps"]);
  if (values.batch !== undefined) x.batch = Number(values.batch);
  if (values.accumulate !== undefined) x.accumulate = Number(values.accumulate);
  for (const k of ["batch", "accumulate", "crop", "stride"] as const) {
    if (!(Number.isInteger(x[k]) && x[k] >= 1)) {
      fail("train", `${k} must be a positive integer, got ${x[k]}`);
    }
  }
  if (values.vgg) x.vgg = values.vgg;
  const out = values.out ?? `runs/${x.name}`;
  const say = (s: string) => console.error(`train: ${s}`);
  await Deno.mkdir(out, { recursive: true });
  const weightsPath = `${out}/weights.safetensors`, statePath = `${out}/state.safetensors`;
  if (!values.resume) {
    try {
      await Deno.stat(statePath);
      fail(
        "train",
        `${out} already holds a run; pass --resume to continue it or --out for a new folder`,
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  await writeFileAtomic(
    `${out}/config.json`,
    new TextEncoder().encode(JSON.stringify(x, null, 2) + "\n"),
  );

  // Data
  const train = await findScenes(x.data, "train");
  if (!train.length) {
    fail("train", `${x.data}: no training scenes (folders under a Training/ path)`);
  }
  const valInfo = (await findScenes(x.data, "test")).filter((s) => s.gt).slice(0, x.valScenes);
  const val: Scene[] = [];
  for (const info of valInfo) {
    const s = await loadScene(info);
    val.push({
      ...s,
      ldrs: s.ldrs.map((l) => centreCrop(l, x.valCrop)),
      gt: centreCrop(s.gt!, x.valCrop),
    });
  }
  if (!val.length) say("no test scenes with ground truth: validation is off");
  const loader = new CropLoader(train, {
    size: x.crop,
    stride: x.stride,
    batch: x.batch,
    seed: x.seed,
    cacheScenes: x.cacheScenes,
  });

  // Model, teacher, perceptual network
  const vgg = x.vgg ? await loadVgg19(x.vgg) : null;
  say(
    vgg
      ? `perceptual term on (VGG19 from ${x.vgg}, λ = ${x.lambda})`
      : "no VGG19 weights given (--vgg): the perceptual term is off, L_r is the μ-law L1 alone",
  );
  let model: LFDiff, trainer: Trainer;
  if (x.stage === 1) {
    model = new LFDiff({ ...baseConfig(x), variant: "s1" }, new Rng(x.seed));
    trainer = new Trainer(model, { ...x, stage: 1 }, null, vgg);
  } else {
    const s1 = await loadLFDiff(x.stage1!, { variant: "s1" });
    const mode = x.mode ?? "joint";
    model = new LFDiff(
      { ...s1.config, variant: mode === "no-dm" ? "s2-no-dm" : "s2" },
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
  if (values.resume) {
    const [w, st] = [await readSafetensors(weightsPath), await readSafetensors(statePath)];
    if (w.metadata.step !== st.metadata.step) {
      fail(
        "train",
        `${out}: weights (step ${w.metadata.step}) and state (step ${st.metadata.step}) disagree`,
      );
    }
    model.loadStateDict(w.tensors);
    trainer.restore(st.tensors, st.metadata);
    say(`resumed at step ${trainer.step} (epoch ${trainer.epoch}, batch ${trainer.batchInEpoch})`);
  }

  /** CSV rows up to `step` from an earlier part of this run (resume keeps the history). */
  const earlier = async (file: string): Promise<{ header: string; rows: string[] }> => {
    try {
      const [header, ...rows] = (await Deno.readTextFile(`${out}/${file}`)).trim().split("\n");
      return { header, rows: rows.filter((r) => Number(r.split(",")[0]) <= trainer.step) };
    } catch {
      return { header: "", rows: [] };
    }
  };
  const save = async () => {
    const st = trainer.state();
    await writeSafetensors(statePath, st.tensors, st.meta);
    await saveLFDiff(weightsPath, model, { step: st.meta.step });
  };
  const prevVal = values.resume ? await earlier("val.csv") : { header: "", rows: [] };
  const prevLog = values.resume ? await earlier("log.csv") : { header: "", rows: [] };
  const valRows: string[] = prevVal.rows;
  const valHistory = valRows.map((r) => r.split(",").map(Number)).map(([step, loss, psnrMu]) => ({
    step,
    loss,
    psnrMu,
  }));
  const validate = async () => {
    if (!val.length) return null;
    let loss = 0, psnrMu = 0, psnrL = 0;
    for (const s of val) {
      const { hdr } = fuseBracket(model, s.ldrs, { evs: s.evs, seed: 0, gt: s.gt! });
      const m = hdrMetrics({ ...hdr, bitDepth: 32 }, s.gt!);
      let l1 = 0;
      for (let i = 0; i < hdr.data.length; i++) {
        l1 += Math.abs(muLaw(hdr.data[i]) - muLaw(s.gt!.data[i]));
      }
      loss += l1 / hdr.data.length / val.length;
      psnrMu += m.psnrMu / val.length;
      psnrL += m.psnrL / val.length;
    }
    valRows.push(`${trainer.step},${loss},${psnrMu},${psnrL}`);
    valHistory.push({ step: trainer.step, loss, psnrMu });
    await writeFileAtomic(
      `${out}/val.csv`,
      new TextEncoder().encode("step,loss,psnr_mu,psnr_l\n" + valRows.join("\n") + "\n"),
    );
    say(
      `validation at step ${trainer.step}: μ-law L1 ${loss.toFixed(5)}, PSNR-μ ${
        psnrMu.toFixed(2)
      } dB, PSNR-L ${psnrL.toFixed(2)} dB`,
    );
    return { loss, psnrMu, psnrL };
  };
  const logRows: string[] = prevLog.rows;
  let logHeader = prevLog.header;
  const lossColumn = logHeader.split(",").indexOf("loss");
  const history = logRows.map((r) => r.split(",").map(Number)).map((c) => ({
    step: c[0],
    loss: c[lossColumn],
  }));
  const writeLog = async () => {
    await writeFileAtomic(
      `${out}/log.csv`,
      new TextEncoder().encode(logHeader + "\n" + logRows.join("\n") + "\n"),
    );
    await plotPng(`${out}/plot.png`, [
      {
        series: [{ points: history.map((h) => [h.step, h.loss]), color: [0.1, 0.3, 0.8] }, {
          points: valHistory.map((h) => [h.step, h.loss]),
          color: [0.9, 0.4, 0.1],
        }],
        log: true,
      },
      { series: [{ points: valHistory.map((h) => [h.step, h.psnrMu]), color: [0.1, 0.6, 0.2] }] },
    ]);
  };

  let stop = false;
  const onSigint = () => {
    if (stop) Deno.exit(130);
    stop = true;
    say("interrupted: saving a checkpoint at the end of this step (Ctrl-C again to quit at once)");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const first = values.resume ? null : await validate();
  const t0 = performance.now(), stepAtStart = trainer.step;
  let lastPrint = 0, batchesPerEpoch = 0;
  let lastTerms: LossTerms = {};
  const maxSteps = x.maxSteps ?? Infinity;
  outer: for (; trainer.epoch < x.epochs; trainer.epoch++) {
    let seen = 0;
    let micro: Batch[] = [];
    for await (const b of loader.epoch(trainer.epoch)) {
      if (seen++ < trainer.batchInEpoch) continue; // consumed before the resume
      micro.push(b);
      if (micro.length < x.accumulate) continue;
      lastTerms = trainer.trainStep(micro);
      trainer.batchInEpoch = seen;
      micro = [];
      if (!logHeader) logHeader = ["step", "epoch", "lr", ...Object.keys(lastTerms)].join(",");
      logRows.push(
        [trainer.step, trainer.epoch, trainer.opt.lr, ...Object.values(lastTerms)].join(","),
      );
      history.push({ step: trainer.step, loss: lastTerms.loss });
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
      if (trainer.step % x.valEvery === 0) await validate();
      if (trainer.step % x.checkpointEvery === 0) await save();
      if (trainer.step >= maxSteps || stop) break outer;
    }
    batchesPerEpoch = seen;
    trainer.batchInEpoch = 0;
  }
  Deno.removeSignalListener("SIGINT", onSigint);
  const last = trainer.step % x.valEvery === 0 && valHistory.at(-1)?.step === trainer.step
    ? valHistory.at(-1)!
    : await validate();
  await save();
  if (logHeader) await writeLog();
  const summary = {
    run: out,
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
      } at step ${trainer.step}: ${weightsPath} (resume with --resume --out ${out})`,
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
