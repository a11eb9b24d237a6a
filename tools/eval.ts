// `deno task eval`: how good a method's HDR is.
//   --data DIR: every scene with ground truth → PSNR-μ, PSNR-L, SSIM-μ, SSIM-L, seconds, and
//     the same split by region (imaging/regions.ts): where the reference is well exposed,
//     bright, dark, and where something moves or not.
//   --real DIR: every bracket below DIR (no ground truth) → the checks of
//     imaging/consistency.ts: reference, highlight, shadow and fill consistency, against the
//     method's frames (its response's convention) aligned by a homography in any case.
// `--help` lists the flags.

import { findScenes, loadScene } from "../datasets/dataset.ts";
import { type Bracket, loadBracketFolder } from "../io/bracket.ts";
import { readImage, writeImage } from "../io/codecs.ts";
import { writeFileAtomic } from "../io/files.ts";
import { type Image, toRgb } from "../io/image.ts";
import { CHECKS, consistency } from "../imaging/consistency.ts";
import { mergeBracket } from "../imaging/merge.ts";
import { type HdrMetrics, hdrMetrics } from "../imaging/metrics.ts";
import {
  covered,
  prepareBracket,
  type PreparedBracket,
  type PrepareOptions,
} from "../imaging/prepare.ts";
import { regionMasks, REGIONS, type RegionScore, scoreRegions } from "../imaging/regions.ts";
import { previewImage } from "../imaging/tonemap.ts";
import { fusePrepared } from "../model/pipeline.ts";
import { BRACKET_FLAGS, bracketOptions } from "./bracket_flags.ts";
import { decodeOptions, fail, flags, run } from "./cli.ts";
import { chooseModel, MODEL_FLAGS, type ModelChoice, useDevice } from "./model_flags.ts";

type Scores = Record<string, RegionScore | null>;

interface Row extends Partial<HdrMetrics> {
  scene: string;
  /** The frames the method was given: short, reference, long (files of the bracket). */
  frames: string[];
  seconds: number;
  regions: Scores;
}

const { values } = flags("eval", {
  ...MODEL_FLAGS,
  ...BRACKET_FLAGS,
  // Scenes with ground truth are in the network's convention and registered (Kalantari's
  // protocol); brackets are as cameras shot them.
  response: {
    ...BRACKET_FLAGS.response,
    default: undefined,
    help: BRACKET_FLAGS.response.help + " (default: gamma with --data, auto with --real)",
  },
  align: {
    ...BRACKET_FLAGS.align,
    default: undefined,
    help: BRACKET_FLAGS.align.help + " (default: off with --data, auto with --real)",
  },
  data: {
    type: "string",
    arg: "DIR",
    help: "a dataset root (Kalantari/Wu/synth layout) or one scene, with ground truth",
  },
  real: {
    type: "string",
    arg: "DIR",
    help:
      "brackets without ground truth (each folder of 2 or more frames below DIR): consistency checks",
  },
  method: {
    type: "string",
    default: "lfdiff",
    arg: "M",
    help: "lfdiff, or merge (the classic exposure-weighted merge, the baseline row)",
  },
  outputs: {
    type: "string",
    arg: "DIR",
    help: "score existing results DIR/NAME.hdr (another method's) instead of running one",
  },
  split: {
    type: "string",
    arg: "S",
    help: "test, train or all (default: the test scenes when there are any)",
  },
  save: { type: "string", arg: "DIR", help: "keep each output as DIR/NAME.hdr and .png" },
  json: { type: "string", arg: "FILE", help: "write the results as JSON" },
}, {
  usage: ["--data DIR [--method lfdiff|merge] [flags]", "--real DIR [flags]"],
  about: "Scores a method. With --data, every scene with ground truth: PSNR-μ, PSNR-L, SSIM-μ,\n" +
    "SSIM-L (the field's definitions) and seconds, then PSNR-μ, tonal bias and colour cast by\n" +
    "region (reference well exposed, bright, dark; moving, static). With --real, brackets\n" +
    "without ground truth: PSNR-μ, bias and cast against the reference frame where it is well\n" +
    "exposed, and against the shortest/longest frame where the reference is bright/dark.",
  examples: [
    "--data Kalantari --weights lfdiff.safetensors",
    "--data Kalantari --method merge --json merge.json",
    "--data data/synth --split all --save out/eval",
    "--real my-brackets/ --json real.json",
    "--real my-brackets/ --outputs other-method/",
  ],
});

const say = (s: string) => console.error(`eval: ${s}`);
const pad = (v: string, i: number, w = 8) => (i ? v.padStart(w) : v.padEnd(18));
const num = (v: number | undefined, d = 2) => v === undefined ? "—" : v.toFixed(d);
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};

/** Per region: mean PSNR-μ, bias, cast and share over the rows where it is not empty. */
function regionTable(rows: Row[], names: readonly string[], title: string): unknown {
  console.log(`\n${title}`);
  console.log(
    ["region", "scenes", "share", "PSNR-μ", "med", "bias", "cast", "cast med"].map((h, i) =>
      pad(h, i)
    ).join(" "),
  );
  const summary: Record<string, unknown> = {};
  for (const name of names) {
    const s = rows.map((r) => r.regions[name]).filter((x): x is RegionScore => !!x);
    if (!s.length) continue;
    const mean = (f: (x: RegionScore) => number) => s.reduce((a, x) => a + f(x), 0) / s.length;
    const finite = s.filter((x) => Number.isFinite(x.psnrMu));
    const m = {
      scenes: s.length,
      share: mean((x) => x.fraction),
      psnrMu: finite.reduce((a, x) => a + x.psnrMu, 0) / Math.max(finite.length, 1),
      psnrMuMedian: median(s.map((x) => x.psnrMu)),
      bias: mean((x) => x.bias),
      cast: mean((x) => x.cast),
      castMedian: median(s.map((x) => x.cast)),
    };
    summary[name] = m;
    console.log(
      [
        name,
        String(m.scenes),
        `${(100 * m.share).toFixed(1)}%`,
        num(m.psnrMu),
        num(m.psnrMuMedian),
        num(m.bias, 3),
        `${(100 * m.cast).toFixed(1)}%`,
        `${(100 * m.castMedian).toFixed(1)}%`,
      ].map((v, i) => pad(v, i)).join(" "),
    );
  }
  return summary;
}

/**
 * The frames a result is checked against: the method's own three, in its response's
 * convention, but aligned by a homography whatever the method's --align (so a method that
 * did not align is measured against frames that are), and the pixels all three cover.
 */
function checkFrames(
  bracket: Bracket,
  prepared: PreparedBracket,
  o: PrepareOptions,
): [Image[], number[], Uint8Array] {
  const r = o.align === "homography" ? prepared : prepareBracket(bracket, {
    ...o,
    align: "homography",
    response: prepared.response ?? undefined,
  });
  const { width, height } = r.ldrs[1];
  return [r.ldrs, r.evs, covered(r.alignments, width, height)];
}

/** The method's HDR for a prepared bracket, or the named file of another method. */
function runner(
  choice: ModelChoice | null,
  outputs: string | undefined,
): (name: string, p: PreparedBracket, anchor: boolean, gt?: Image) => Promise<Image> {
  return async (name, p, anchor, gt) => {
    if (outputs) return toRgb(await readImage(`${outputs}/${name}.hdr`));
    if (!choice) return mergeBracket(p.ldrs, p.evs);
    const { width, height } = p.ldrs[1];
    return fusePrepared(choice.model, p, {
      steps: choice.steps,
      seed: choice.seed,
      tile: choice.tileFor(width, height),
      anchor,
      gt,
    }).hdr;
  };
}

await run("eval", async () => {
  const decode = decodeOptions(values);
  if (!values.data === !values.real) {
    fail(
      "eval",
      "give --data DIR (scenes with ground truth) or --real DIR (brackets), one of them",
    );
  }
  if (values.method !== "lfdiff" && values.method !== "merge") {
    fail("eval", `--method must be lfdiff or merge, got ${values.method}`);
  }
  // What to score: scenes with ground truth, or real brackets.
  type Item = { name: string; load: () => Promise<{ bracket: Bracket; gt: Image | null }> };
  let items: Item[];
  let split = "all";
  if (values.data) {
    const all = await findScenes(values.data);
    split = values.split ?? (all.some((s) => s.split === "test") ? "test" : "all");
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
    items = scenes.map((info) => ({
      name: info.name,
      load: async () => {
        const s = await loadScene(info, decode);
        return {
          bracket: { files: info.ldrs, ldrs: s.ldrs, evs: s.evs, evSource: "exposure.txt" },
          gt: s.gt,
        };
      },
    }));
  } else {
    const root = values.real!.replace(/\/+$/, "");
    const dirs: string[] = [];
    const walk = async (dir: string, depth: number) => {
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      if (names.filter((n) => /\.(jpe?g|png|tiff?)$/i.test(n)).length >= 2) dirs.push(dir);
      else if (depth < 3) {
        for (const n of names.sort()) {
          if ((await Deno.stat(`${dir}/${n}`)).isDirectory) await walk(`${dir}/${n}`, depth + 1);
        }
      }
    };
    await walk(root, 0).catch((e) => {
      if (e instanceof Deno.errors.NotFound) fail("eval", `${root}: no such folder`);
      throw e;
    });
    if (!dirs.length) fail("eval", `${root}: no brackets (folders with 2 or more images)`);
    items = dirs.sort().map((dir) => ({
      name: dir.split("/").pop()!,
      load: async () => ({ bracket: await loadBracketFolder(dir, undefined, decode), gt: null }),
    }));
  }
  let choice: ModelChoice | null = null;
  if (values.method === "lfdiff" && !values.outputs) {
    useDevice(values.device);
    choice = await chooseModel(values, say);
  }
  const fuse = runner(choice, values.outputs);
  if (values.save) await Deno.mkdir(values.save, { recursive: true });

  const rows: Row[] = [];
  const t0 = performance.now();
  for (const [i, item] of items.entries()) {
    const { bracket, gt } = await item.load();
    const options = await bracketOptions({
      ...values,
      response: values.response ?? (values.data ? "gamma" : "auto"),
      align: values.align ?? (values.data ? "off" : "auto"),
    }, bracket.files.length);
    const prepared = prepareBracket(bracket, options);
    const t = performance.now();
    const out = await fuse(item.name, prepared, options.anchor, gt ?? undefined);
    const seconds = (performance.now() - t) / 1000;
    const frames = prepared.choice.indices.map((f) => bracket.files[f].split("/").pop()!);
    const row: Row = gt
      ? {
        scene: item.name,
        frames,
        seconds,
        ...hdrMetrics(out, gt),
        regions: scoreRegions(out, gt, regionMasks(prepared.ldrs, 1)),
      }
      : {
        scene: item.name,
        frames,
        seconds,
        regions: consistency(out, ...checkFrames(bracket, prepared, options)),
      };
    rows.push(row);
    if (values.save) {
      await writeImage(`${values.save}/${item.name}.hdr`, out);
      await writeImage(`${values.save}/${item.name}.png`, previewImage(out));
    }
    const el = (performance.now() - t0) / 1000;
    const headline = gt
      ? `PSNR-μ ${num(row.psnrMu)} dB`
      : `reference consistency ${num(row.regions.reference?.psnrMu)} dB`;
    say(
      `${i + 1}/${items.length} ${item.name}: ${headline} (${seconds.toFixed(1)} s, ETA ${
        ((el / (i + 1)) * (items.length - i - 1)).toFixed(0)
      } s)`,
    );
  }
  const method = values.outputs
    ? `results in ${values.outputs}`
    : values.method === "merge"
    ? "merge"
    : `lfdiff ${choice!.model.config.variant}${choice!.trained ? "" : " (UNTRAINED)"}`;
  const mean = (k: keyof HdrMetrics | "seconds") =>
    rows.reduce((s, r) => s + (r[k] as number), 0) / rows.length;
  let means: Record<string, number> = { seconds: mean("seconds") };
  let regions: unknown;
  if (values.data) {
    means = {
      psnrMu: mean("psnrMu"),
      psnrL: mean("psnrL"),
      ssimMu: mean("ssimMu"),
      ssimL: mean("ssimL"),
      ...means,
    };
    console.log(
      `method: ${method}, ${rows.length} ${
        split === "all" ? "" : split + " "
      }scenes from ${values.data}`,
    );
    console.log(
      ["scene", "PSNR-μ", "PSNR-L", "SSIM-μ", "SSIM-L", "seconds"].map((h, i) => pad(h, i))
        .join(" "),
    );
    const line = (name: string, r: Record<string, number | undefined>) =>
      console.log(
        [name, num(r.psnrMu), num(r.psnrL), num(r.ssimMu, 4), num(r.ssimL, 4), num(r.seconds)]
          .map((v, i) => pad(v, i)).join(" "),
      );
    for (const r of rows) line(r.scene, r as unknown as Record<string, number>);
    line("mean", means);
    regions = regionTable(rows, REGIONS, "by region (against the ground truth):");
  } else {
    console.log(`method: ${method}, ${rows.length} brackets from ${values.real}`);
    console.log(
      ["bracket", "ref PSNR-μ", "ref bias", "ref cast", "highlight", "shadow", "fill"]
        .map((h, i) => pad(h, i, 11)).join(" "),
    );
    for (const r of rows) {
      const g = r.regions;
      console.log(
        [
          r.scene,
          num(g.reference?.psnrMu),
          num(g.reference?.bias, 3),
          g.reference ? `${(100 * g.reference.cast).toFixed(1)}%` : "—",
          num(g.highlight?.psnrMu),
          num(g.shadow?.psnrMu),
          num(g.fill?.psnrMu),
        ].map((v, i) => pad(v, i, 11)).join(" "),
      );
    }
    regions = regionTable(rows, CHECKS, "summary (median over brackets in the 'med' columns):");
  }
  if (values.json) {
    await writeFileAtomic(
      values.json,
      new TextEncoder().encode(
        JSON.stringify(
          {
            method,
            data: values.data ?? values.real,
            split,
            scenes: rows,
            mean: means,
            regions,
          },
          null,
          1,
        ),
      ),
    );
  }
});
