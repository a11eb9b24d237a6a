// `deno task infer`: one bracket → an HDR file (.hdr or .exr, by --out's extension) and a
// tone-mapped PNG preview beside it. `--help` lists the flags.

import { loadBracket } from "../io/bracket.ts";
import { writeImage } from "../io/codecs.ts";
import { describeScene, loadScene } from "../datasets/dataset.ts";
import { normaliseEvs } from "../imaging/exposure.ts";
import type { Image } from "../io/image.ts";
import { previewImage } from "../imaging/tonemap.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import type { LFDiffConfig } from "../model/config.ts";
import { decodeOptions, fail, flags, run } from "./cli.ts";
import { chooseModel, configNamed, MODEL_FLAGS, useDevice } from "./model_flags.ts";

const SAMPLE = new URL("../samples/bracket/", import.meta.url).pathname;
/** The paper's Table 3 parameter counts, in millions. */
const PAPER_PARAMS: Record<string, number> = {
  baseline: 5.09,
  s1: 5.24,
  "s2-no-dm": 5.85,
  s2: 7.48,
};

function summary(config: LFDiffConfig, json: boolean): void {
  const rows = (["baseline", "s1", "s2-no-dm", "s2"] as const).map((variant) => {
    const m = new LFDiff({ ...config, variant });
    return {
      variant,
      params: m.numParameters(),
      parts: m.parameterSummary(),
      paper: PAPER_PARAMS[variant],
    };
  });
  if (json) return console.log(JSON.stringify(rows));
  for (const r of rows) {
    const parts = r.parts.map((p) => `${p.name} ${(p.params / 1e6).toFixed(3)}M`).join(", ");
    console.log(
      `${r.variant.padEnd(9)} ${(r.params / 1e6).toFixed(2)}M (paper ${
        r.paper.toFixed(2)
      }M): ${parts}`,
    );
  }
}

await run("infer", async () => {
  const { values, positionals } = flags("infer", {
    ...MODEL_FLAGS,
    ldr: { type: "boolean", help: "the positional arguments are the three frames (optional)" },
    ev: {
      type: "string",
      arg: "E1,E2,E3",
      help: "exposures in stops (default: from EXIF exposure times)",
    },
    scene: { type: "string", arg: "DIR", help: "a Kalantari or Wu scene folder instead of files" },
    out: { type: "string", arg: "FILE", help: "output .hdr or .exr (default out/NAME.hdr)" },
    summary: { type: "boolean", help: "print parameter counts per variant and exit" },
    json: { type: "boolean", help: "one JSON line of results on stdout" },
  }, {
    usage: ["[--ldr] A B C [--ev E1,E2,E3] [flags]", "--scene DIR [flags]", "--summary"],
    about:
      "Fuses a bracket of three exposures (the middle one is the reference) into one HDR image,\n" +
      "written with a tone-mapped PNG preview beside it. Without inputs it fuses the sample\n" +
      "bracket in samples/bracket. Progress goes to stderr, a summary to stdout.",
    examples: [
      "--ldr a.jpg b.jpg c.jpg --out out/room.exr",
      "a.tif b.tif c.tif --ev -2,0,2 --weights lfdiff.safetensors",
      "--scene Kalantari/Test/001 --steps 20 --seed 3",
    ],
  });
  const say = (s: string) => console.error(`infer: ${s}`);
  const decode = decodeOptions(values);
  if (values.summary) {
    summary(configNamed(values.config), values.json!);
    return;
  }
  const t0 = performance.now();
  const evs = values.ev === undefined ? undefined : values.ev.split(",").map(Number);
  let ldrs: Image[], bracketEvs: number[], name: string, gt: Image | null = null, evSource: string;
  if (values.scene) {
    const info = await describeScene(values.scene.replace(/\/+$/, ""));
    if (!info) {
      fail("infer", `${values.scene}: not a scene folder (no exposure.txt or input_exp.txt)`);
    }
    const scene = await loadScene(info, decode);
    [ldrs, bracketEvs, name, gt, evSource] = [
      scene.ldrs,
      evs ?? scene.evs,
      info.name,
      scene.gt,
      evs ? "given" : info.exposure,
    ];
  } else {
    const files = positionals.length
      ? positionals
      : ["ev-2.jpg", "ev0.jpg", "ev+2.jpg"].map((f) => SAMPLE + f);
    if (!positionals.length) say(`no input given: using the sample bracket in ${SAMPLE}`);
    const b = await loadBracket(files, evs, decode);
    [ldrs, bracketEvs, evSource] = [b.ldrs, b.evs, b.evSource];
    name = files[1].split("/").pop()!.replace(/\.[^.]+$/, "");
  }
  const out = values.out ?? `out/${name}.hdr`;
  if (!/\.(hdr|exr)$/i.test(out)) {
    fail("infer", `--out ${out}: the HDR output must end in .hdr or .exr`);
  }
  useDevice(values.device);
  const choice = await chooseModel(values, say);
  const { width, height } = ldrs[1];
  const tile = choice.tileFor(width, height);
  const normalised = normaliseEvs(bracketEvs);
  say(
    `${width}x${height}, EV ${bracketEvs.map((e) => e.toFixed(2)).join(",")} (${evSource}; ${
      normalised.map((e) => e.toFixed(2)).join(",")
    } from the shortest frame), variant ${choice.model.config.variant}, ${choice.steps} DDIM steps${
      tile ? `, tiles of ${tile}` : ""
    }`,
  );
  const tRead = performance.now();
  let last = 0;
  const { hdr, timings } = fuseBracket(choice.model, ldrs, {
    evs: bracketEvs,
    steps: choice.steps,
    seed: choice.seed,
    tile,
    gt: gt ?? undefined,
    onProgress: (what, done, total) => {
      const now = performance.now();
      if (now - last > 500 || done === total) {
        last = now;
        const el = (now - tRead) / 1000;
        say(`${what} ${done}/${total} (${el.toFixed(1)} s)`);
      }
    },
  });
  const tWrite = performance.now();
  await Deno.mkdir(out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  const result: Image = { ...hdr, bitDepth: 32 };
  await writeImage(out, result);
  const preview = out.replace(/\.(hdr|exr)$/i, ".png");
  await writeImage(preview, previewImage(result));
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
    evs: bracketEvs,
    /** The HDR's scale: 1.0 is what saturates the shortest frame (see the README). */
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
