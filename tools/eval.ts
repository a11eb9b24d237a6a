// `deno task eval --data DIR`: every scene with ground truth → PSNR-μ, PSNR-L, SSIM-μ,
// SSIM-L and seconds per scene, their means, a table on stdout. `--help` lists the flags.

import { writeImage } from "../io/codecs.ts";
import { writeFileAtomic } from "../io/files.ts";
import { findScenes, loadScene } from "../datasets/dataset.ts";
import type { Image } from "../io/image.ts";
import { mergeBracket } from "../imaging/merge.ts";
import { type HdrMetrics, hdrMetrics } from "../imaging/metrics.ts";
import { previewImage } from "../imaging/tonemap.ts";
import { fuseBracket } from "../model/fuse.ts";
import { decodeOptions, fail, flags, run } from "./cli.ts";
import { chooseModel, MODEL_FLAGS, type ModelChoice, useDevice } from "./model_flags.ts";

interface Row extends HdrMetrics {
  scene: string;
  seconds: number;
}

await run("eval", async () => {
  const { values } = flags("eval", {
    ...MODEL_FLAGS,
    data: {
      type: "string",
      arg: "DIR",
      help: "a dataset root (Kalantari/Wu/synth layout) or one scene",
    },
    method: {
      type: "string",
      default: "lfdiff",
      arg: "M",
      help: "lfdiff, or merge (the classic exposure-weighted merge, the baseline row)",
    },
    split: {
      type: "string",
      arg: "S",
      help: "test, train or all (default: the test scenes when there are any)",
    },
    save: { type: "string", arg: "DIR", help: "keep each output as DIR/NAME.hdr and .png" },
    json: { type: "string", arg: "FILE", help: "write the results as JSON" },
  }, {
    usage: ["--data DIR [--method lfdiff|merge] [flags]"],
    about: "Scores every scene with ground truth: PSNR-μ, PSNR-L, SSIM-μ, SSIM-L (the field's\n" +
      "definitions) and seconds per scene, with their means, as a table on stdout.",
    examples: [
      "--data Kalantari --weights lfdiff.safetensors",
      "--data Kalantari --method merge --json merge.json",
      "--data data/synth --split all --save out/eval",
    ],
  });
  const say = (s: string) => console.error(`eval: ${s}`);
  const decode = decodeOptions(values);
  if (!values.data) fail("eval", "--data DIR is required (a dataset root or one scene folder)");
  if (values.method !== "lfdiff" && values.method !== "merge") {
    fail("eval", `--method must be lfdiff or merge, got ${values.method}`);
  }
  const all = await findScenes(values.data);
  const split = values.split ?? (all.some((s) => s.split === "test") ? "test" : "all");
  if (!["test", "train", "all"].includes(split)) {
    fail("eval", `--split must be test, train or all, got ${split}`);
  }
  const scenes = all.filter((s) => (split === "all" || s.split === split) && s.gt);
  if (!scenes.length) {
    fail(
      "eval",
      `${values.data}: no ${split === "all" ? "" : split + " "}scenes with ground truth`,
    );
  }
  let choice: ModelChoice | null = null;
  if (values.method === "lfdiff") {
    useDevice(values.device);
    choice = await chooseModel(values, say);
  }
  if (values.save) await Deno.mkdir(values.save, { recursive: true });

  const rows: Row[] = [];
  const t0 = performance.now();
  for (const [i, info] of scenes.entries()) {
    const scene = await loadScene(info, decode);
    const t = performance.now();
    let out: Image;
    if (choice) {
      const { width, height } = scene.ldrs[1];
      const r = fuseBracket(choice.model, scene.ldrs, {
        evs: scene.evs,
        steps: choice.steps,
        seed: choice.seed,
        tile: choice.tileFor(width, height),
        gt: scene.gt!,
      });
      out = { ...r.hdr, bitDepth: 32 };
    } else out = mergeBracket(scene.ldrs, scene.evs);
    const seconds = (performance.now() - t) / 1000;
    const m = hdrMetrics(out, scene.gt!);
    rows.push({ scene: info.name, seconds, ...m });
    if (values.save) {
      await writeImage(`${values.save}/${info.name}.hdr`, out);
      await writeImage(`${values.save}/${info.name}.png`, previewImage(out));
    }
    const el = (performance.now() - t0) / 1000;
    say(
      `${i + 1}/${scenes.length} ${info.name}: PSNR-μ ${m.psnrMu.toFixed(2)} dB (${
        seconds.toFixed(1)
      } s, ETA ${((el / (i + 1)) * (scenes.length - i - 1)).toFixed(0)} s)`,
    );
  }
  const mean = (k: keyof Row) => rows.reduce((s, r) => s + (r[k] as number), 0) / rows.length;
  const means = {
    psnrMu: mean("psnrMu"),
    psnrL: mean("psnrL"),
    ssimMu: mean("ssimMu"),
    ssimL: mean("ssimL"),
    seconds: mean("seconds"),
  };
  const method = values.method === "merge"
    ? "merge"
    : `lfdiff ${choice!.model.config.variant}${choice!.trained ? "" : " (UNTRAINED)"}`;
  const head = ["scene".padEnd(14), "PSNR-μ", "PSNR-L", "SSIM-μ", "SSIM-L", "seconds"];
  console.log(
    `method: ${method}, ${rows.length} ${
      split === "all" ? "" : split + " "
    }scenes from ${values.data}`,
  );
  console.log(head.map((h, i) => (i ? h.padStart(8) : h)).join(" "));
  const line = (name: string, r: Omit<Row, "scene">) =>
    console.log(
      [
        name.padEnd(14),
        r.psnrMu.toFixed(2),
        r.psnrL.toFixed(2),
        r.ssimMu.toFixed(4),
        r.ssimL.toFixed(4),
        r.seconds.toFixed(2),
      ]
        .map((v, i) => (i ? v.padStart(8) : v)).join(" "),
    );
  for (const r of rows) line(r.scene, r);
  line("mean", means);
  if (values.json) {
    await writeFileAtomic(
      values.json,
      new TextEncoder().encode(
        JSON.stringify({ method, data: values.data, split, scenes: rows, mean: means }, null, 1),
      ),
    );
  }
});
