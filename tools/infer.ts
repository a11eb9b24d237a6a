// `deno task infer`: one bracket → an HDR file (.hdr or .exr, by --out's extension) and a
// tone-mapped PNG preview beside it. `--help` lists the flags.

import type { Bracket } from "../io/bracket.ts";
import { describeScene, loadScene } from "../datasets/dataset.ts";
import { chooseFrames } from "../imaging/frames.ts";
import { describeAlignment } from "../imaging/align.ts";
import { describeResponse } from "../imaging/response.ts";
import type { Image } from "../io/image.ts";
import { readBracket } from "../model/pipeline.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { CONFIGS } from "../model/config.ts";
import { BRACKET_FLAGS, bracketOptions } from "./bracket_flags.ts";
import { framesUsed, fuseWithFlags, writeFusion } from "./fusion.ts";
import { decodeOptions, fail, flags, run } from "./cli.ts";
import { chooseModel, MODEL_FLAGS, type ModelChoice, SHIPPED } from "./model_flags.ts";

const baseName = (f: string) => f.split("/").pop()!.replace(/\.[^.]+$/, "");
const SAMPLE = new URL("../samples/bracket/", import.meta.url).pathname;
/** The paper's Table 3 parameter counts, in millions. */
const PAPER_PARAMS: Record<string, number> = {
  baseline: 5.09,
  s1: 5.24,
  "s2-no-dm": 5.85,
  s2: 7.48,
};

/**
 * What `infer` would run with the same flags (the shipped model unless --weights or
 * --untrained), then the four Table 3 variants of its configuration beside the paper's counts.
 */
function summary(choice: ModelChoice, source: string, json: boolean): void {
  const m = choice.model, config = m.config;
  const named = Object.entries(CONFIGS).find(([, c]) =>
    JSON.stringify({ ...c, variant: config.variant }) === JSON.stringify(config)
  )?.[0];
  const model = {
    source,
    config: named ?? "custom",
    variant: config.variant,
    params: m.numParameters(),
    parts: m.parameterSummary(),
    trained: choice.trained,
  };
  const variants = (["baseline", "s1", "s2-no-dm", "s2"] as const).map((variant) => {
    const v = new LFDiff({ ...config, variant });
    return { variant, params: v.numParameters(), paper: PAPER_PARAMS[variant] };
  });
  if (json) return console.log(JSON.stringify({ model, variants }));
  const parts = model.parts.map((p) => `${p.name} ${(p.params / 1e6).toFixed(3)}M`).join(", ");
  console.log(
    `model: ${source} (${model.config} configuration, variant ${model.variant}${
      choice.trained ? "" : ", UNTRAINED"
    }): ${(model.params / 1e6).toFixed(3)}M parameters: ${parts}`,
  );
  console.log(`its configuration's Table 3 variants (paper's counts for the paper's size):`);
  for (const r of variants) {
    console.log(
      `  ${r.variant.padEnd(9)} ${(r.params / 1e6).toFixed(3)}M (paper ${r.paper.toFixed(2)}M)`,
    );
  }
}

await run("infer", async () => {
  const { values, positionals } = flags("infer", {
    ...MODEL_FLAGS,
    ...BRACKET_FLAGS,
    ldr: { type: "boolean", help: "the positional arguments are the frames (optional)" },
    ev: {
      type: "string",
      arg: "E1,E2,...",
      help: "exposures in stops, one per frame (default: EXIF exposure times, or a folder's " +
        "exposure.txt)",
    },
    scene: { type: "string", arg: "DIR", help: "a Kalantari or Wu scene folder instead of files" },
    out: { type: "string", arg: "FILE", help: "output .hdr or .exr (default out/NAME.hdr)" },
    summary: {
      type: "boolean",
      help: "describe the model infer would use (parameters per module) and exit",
    },
    json: { type: "boolean", help: "one JSON line of results on stdout" },
  }, {
    usage: [
      "[--ldr] A B [C ...] [--ev E1,E2,...] [flags]",
      "DIR [flags]",
      "--scene DIR [flags]",
      "--summary",
    ],
    about:
      "Fuses a bracket of 2 or more exposures (up to 32) into one HDR image, written with a tone-mapped\n" +
      "PNG preview beside it. The network sees three frames: the reference (the middle\n" +
      "exposure unless --ref) and the shortest and longest exposures. A folder's image files\n" +
      "are taken in name order. Without inputs it fuses the sample bracket in samples/bracket.\n" +
      "Progress goes to stderr, a summary to stdout.",
    examples: [
      "--ldr a.jpg b.jpg c.jpg --out out/room.exr",
      "a.tif b.tif c.tif --ev -2,0,2 --weights lfdiff.safetensors",
      "my-bracket/ --ref 3",
      "--scene Kalantari/Test/001 --steps 20 --seed 3",
    ],
  });
  const say = (s: string) => console.error(`infer: ${s}`);
  const decode = decodeOptions(values);
  if (values.summary) {
    const source = values.untrained
      ? `random weights (--config ${values.config})`
      : values.weights ?? SHIPPED;
    summary(await chooseModel(values, () => {}), source, values.json!);
    return;
  }
  const t0 = performance.now();
  const evs = values.ev === undefined ? undefined : values.ev.split(",").map(Number);
  let bracket: Bracket, name: string, gt: Image | null = null;
  if (values.scene) {
    const info = await describeScene(values.scene.replace(/\/+$/, ""));
    if (!info) {
      fail("infer", `${values.scene}: not a scene folder (no exposure.txt or input_exp.txt)`);
    }
    const scene = await loadScene(info, decode);
    bracket = {
      files: info.ldrs,
      ldrs: scene.ldrs,
      evs: evs ?? scene.evs,
      evSource: evs ? "given" : "exposure.txt",
    };
    [name, gt] = [info.name, scene.gt];
  } else {
    let input: string[] | string = positionals.length
      ? positionals
      : ["ev-2.jpg", "ev0.jpg", "ev+2.jpg"].map((f) => SAMPLE + f);
    if (!positionals.length) say(`no input given: using the sample bracket in ${SAMPLE}`);
    if (input.length === 1 && (await Deno.stat(input[0]).catch(() => null))?.isDirectory) {
      input = input[0].replace(/\/+$/, "");
    }
    bracket = await readBracket(input, { evs, decode });
    name = "";
  }
  const prep = await bracketOptions(values, bracket.files.length);
  const out = values.out ??
    `out/${name || baseName(bracket.files[chooseFrames(bracket.evs, prep.ref).ref])}.hdr`;
  if (!/\.(hdr|exr)$/i.test(out)) {
    fail("infer", `--out ${out}: the HDR output must end in .hdr or .exr`);
  }
  const { width, height } = bracket.ldrs[0];
  const tRead = performance.now();
  let last = 0;
  const onProgress = (what: string, done: number, total: number) => {
    const now = performance.now();
    if (now - last > 500 || done === total) {
      last = now;
      say(`${what} ${done}/${total} (${((now - tRead) / 1000).toFixed(1)} s)`);
    }
  };
  const f = await fuseWithFlags(bracket, values, {
    say,
    onProgress,
    gt: gt ?? undefined,
    onPrepared: (p) => {
      say(
        `${width}x${height}, ${bracket.files.length} frames (EVs ${bracket.evSource}); the network sees ${
          framesUsed(p).map((u) => `${baseName(u.file)} (EV ${u.ev.toFixed(2)}, ${u.role})`)
            .join(", ")
        }; variant ${p.choice.model.config.variant}, ${p.choice.steps} DDIM steps${
          p.tile ? `, tiles of ${p.tile}` : ""
        }`,
      );
      for (const u of framesUsed(p)) {
        if (u.role !== "reference") say(describeAlignment(u.alignment, u.index + 1, width, height));
      }
      say(`response: ${describeResponse(p.prepared.response)}`);
    },
  });
  const { prepared, choice, timings } = f;
  const tWrite = performance.now();
  const written = await writeFusion(out, f, { preview: true });
  const preview = written.preview!;
  const seconds = {
    read: (tRead - t0) / 1000,
    prior: timings.prior / 1000,
    reconstruction: timings.reconstruction / 1000,
    write: (performance.now() - tWrite) / 1000,
    total: (performance.now() - t0) / 1000,
  };
  const report = {
    output: out,
    preview,
    width,
    height,
    evs: bracket.evs,
    evSource: bracket.evSource,
    response: {
      source: prepared.response?.source ?? "linear",
      file: written.response,
      coverage: prepared.response?.coverage,
      black: prepared.response?.black,
    },
    /**
     * The hold to the reference's tone: per-channel gains over the whole image; under
     * `passed` the reference's mean weight where it was passed through, under `shadows` the
     * hold to the long frame where the reference is dark (null: off).
     */
    anchor: f.anchoring && {
      applied: f.anchoring.reference.applied,
      gain: f.anchoring.reference.gain,
      share: f.anchoring.reference.share,
      passed: { applied: f.anchoring.passed.applied, weight: f.anchoring.passed.weight },
      shadows: {
        applied: f.anchoring.shadows.applied,
        gain: f.anchoring.shadows.gain,
        share: f.anchoring.shadows.share,
      },
    },
    /** Frames beyond the three whose radiance filled highlights the short frame clipped. */
    highlightsFrom: f.extension.frames.map((i) => bracket.files[i]),
    frames: framesUsed(f).map((u) => ({
      file: u.file,
      ev: u.ev,
      role: u.role,
      alignment: {
        mode: u.alignment.mode,
        matrix: u.alignment.matrix,
        residualBefore: u.alignment.residualBefore,
        residualAfter: u.alignment.residualAfter,
        uncovered: u.alignment.uncovered,
      },
    })),
    /** The HDR's scale: 1.0 is what saturates the shortest frame used (see the README). */
    units: "shortest-exposure",
    variant: choice.model.config.variant,
    steps: choice.steps,
    seed: choice.seed,
    trained: choice.trained,
    seconds,
  };
  if (values.json) console.log(JSON.stringify(report));
  else {
    console.log(
      `${out} (${width}x${height}, 1.0 = the shortest frame's saturation) and ${preview}${
        choice.trained ? "" : " — from UNTRAINED weights"
      }`,
    );
    console.log(
      `time: read ${seconds.read.toFixed(2)} s, prior ${
        seconds.prior.toFixed(2)
      } s, reconstruction ${seconds.reconstruction.toFixed(2)} s, write ${
        seconds.write.toFixed(2)
      } s, total ${seconds.total.toFixed(2)} s`,
    );
  }
});
