// The command-line tools as a user runs them (subprocesses, tiny config for speed): outputs
// appear, --json parses, and bad input ends in one line on stderr with no output written.

import { saveLFDiff } from "@lfdiff/model/checkpoint.ts";
import { TINY } from "@lfdiff/model/config.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { readImage } from "@lfdiff/io/codecs.ts";
import { encodeTiff } from "@lfdiff/io/tiff.ts";
import { newImage } from "@lfdiff/io/image.ts";
import { synthesizeScene, writeScene } from "@lfdiff/datasets/synth.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";
import { bf16Unavailable, cudaUnavailable, testDevices } from "./golden.ts";
import { runTool } from "./run_tool.ts";
import { tileFor } from "../tools/model_flags.ts";
import { peakOf } from "../tools/cpu_peak.ts";
import { loadLFDiff } from "@lfdiff/model/checkpoint.ts";

/** The tools' random-weights mode, in the tiny configuration: fast, and says it is untrained. */
const TINY_UNTRAINED = ["--config", "tiny", "--untrained"];

async function withScene(fn: (dir: string, tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    await writeScene(`${tmp}/set/Test/001`, synthesizeScene({ width: 48, height: 40, seed: 5 }));
    await fn(`${tmp}/set/Test/001`, tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Files under dir, for "no output was left" checks. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("infer: three files with --ev, and a scene folder, write HDR + preview", async () => {
  await withScene(async (dir, tmp) => {
    const frames = [1, 2, 3].map((i) => `${dir}/frame${i}.tif`);
    let r = await runTool("infer", [
      ...TINY_UNTRAINED,
      "--ldr",
      ...frames,
      "--ev",
      "-2,0,2",
      "--out",
      `${tmp}/a.hdr`,
      "--json",
    ]);
    strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out);
    assertEquals([report.width, report.height, report.trained], [48, 40, false]);
    assert(r.err.includes("UNTRAINED"), "says plainly that the weights are untrained");
    // The hold to the reference's tone is on by default, and says what it did.
    assert(
      report.anchor !== null && report.anchor.gain.length === 3,
      JSON.stringify(report.anchor),
    );
    assert(r.err.includes("infer: tone held to the reference") || !report.anchor.applied, r.err);
    // The reference passed through where it is cleaner, or the line saying why not.
    assert(
      report.anchor.passed.weight.length === 3 &&
        r.err.includes(
          report.anchor.passed.applied
            ? "infer: reference passed through where it is cleaner"
            : "infer: reference not passed through: 8-bit frames",
        ),
      JSON.stringify(report.anchor.passed),
    );
    assert(
      report.anchor.shadows.gain.length === 3 &&
        (r.err.includes("infer: shadows held to the long frame") || !report.anchor.shadows.applied),
      JSON.stringify(report.anchor.shadows),
    );
    assertEquals([
      (await readImage(`${tmp}/a.hdr`)).width,
      (await readImage(`${tmp}/a.png`)).height,
    ], [48, 40]);
    r = await runTool("infer", [
      ...TINY_UNTRAINED,
      "--scene",
      dir,
      "--out",
      `${tmp}/b.exr`,
      "--tile",
      "32",
      "--anchor",
      "off",
    ]);
    strictEqual(r.code, 0, r.err);
    assert(
      !r.err.includes("tone held") && !r.err.includes("shadows held") &&
        !r.err.includes("passed through"),
      "--anchor off leaves the network's output as it is",
    );
    assert(r.out.includes(`${tmp}/b.exr (48x40, 1.0 = the shortest frame's saturation)`), r.out);
    strictEqual((await readImage(`${tmp}/b.exr`)).channels, 3);
  });
});

Deno.test("infer: a folder of five frames with exposure.txt; the network sees 1, 3 and 5", async () => {
  await withScene(async (dir, tmp) => {
    const b = `${tmp}/five`;
    await Deno.mkdir(b);
    for (const [i, f] of [1, 1, 2, 3, 3].entries()) {
      await Deno.copyFile(`${dir}/frame${f}.tif`, `${b}/0${i + 1}.tif`);
    }
    await Deno.writeTextFile(`${b}/exposure.txt`, "0\n1\n2\n3\n4\n");
    const r = await runTool("infer", [...TINY_UNTRAINED, b, "--out", `${tmp}/f.hdr`, "--json"]);
    strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out);
    assertEquals(
      report.frames.map((f: { file: string; ev: number; role: string }) => [
        f.file.split("/").pop(),
        f.ev,
        f.role,
      ]),
      [["01.tif", 0, "short"], ["03.tif", 2, "reference"], ["05.tif", 4, "long"]],
    );
    assertEquals(report.evSource, "exposure.txt");
    assert(
      r.err.includes("01 (EV 0.00, short), 03 (EV 2.00, reference), 05 (EV 4.00, long)"),
      r.err,
    );
  });
});

Deno.test("infer: a handheld frame is aligned (--align auto), or left as it is (off)", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const s = synthesizeScene({ width: 192, height: 128, seed: 3, objects: 0, shake: 0 });
    // The short frame shifted as a hand would: its content 9 px right and 5 px up.
    const [dx, dy] = [9, -5], f = s.ldrs[0], moved = newImage(f.width, f.height, 3, 16);
    for (let y = 0; y < f.height; y++) {
      for (let x = 0; x < f.width; x++) {
        const sx = Math.min(Math.max(x - dx, 0), f.width - 1);
        const sy = Math.min(Math.max(y - dy, 0), f.height - 1);
        for (let c = 0; c < 3; c++) {
          moved.data[(y * f.width + x) * 3 + c] = f.data[(sy * f.width + sx) * 3 + c];
        }
      }
    }
    const frames = [moved, s.ldrs[1], s.ldrs[2]],
      files = frames.map((_, i) => `${tmp}/${i + 1}.tif`);
    for (const [i, img] of frames.entries()) await Deno.writeFile(files[i], encodeTiff(img, 16));
    const run = async (align: string) => {
      const r = await runTool("infer", [
        ...TINY_UNTRAINED,
        ...files,
        "--ev",
        s.evs.join(","),
        "--align",
        align,
        "--out",
        `${tmp}/${align}.hdr`,
        "--json",
      ]);
      strictEqual(r.code, 0, r.err);
      return { err: r.err, frames: JSON.parse(r.out).frames };
    };
    const auto = await run("auto");
    const a = auto.frames[0].alignment;
    assert(a.mode === "translation" || a.mode === "homography", a.mode);
    // Reference pixel (x, y) shows what the frame shows at matrix·(x, y, 1): (x + 9, y − 5).
    assert(Math.abs(a.matrix[2] - dx) < 0.5 && Math.abs(a.matrix[5] - dy) < 0.5, `${a.matrix}`);
    assert(a.residualAfter < a.residualBefore);
    assert(auto.err.includes("aligned frame 1:"), auto.err);
    strictEqual((await run("off")).frames[0].alignment.mode, "off");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("infer: bad input ends in one clear line and writes nothing", async () => {
  await withScene(async (dir, tmp) => {
    const frames = [1, 2, 3].map((i) => `${dir}/frame${i}.tif`);
    await Deno.writeFile(`${tmp}/small.tif`, encodeTiff(newImage(30, 40, 3, 16)));
    const ckpt = `${tmp}/baseline.safetensors`;
    await saveLFDiff(ckpt, new LFDiff({ ...TINY, variant: "baseline" }));
    await Deno.mkdir(`${tmp}/o`);
    const out = `${tmp}/o/x.hdr`;
    const cases: [string[], RegExp][] = [
      [[frames[0], "--ev", "0"], /^infer: bracket: needs 2 to 32 LDR frames, got 1$/],
      [
        [frames[0], frames[1], "--ev", "-2,0,2"],
        /^infer: bracket: needs 2 exposure values \(one per frame\), got -2,0,2$/,
      ],
      [
        [frames[0], frames[1], `${tmp}/small.tif`, "--ev", "-2,0,2"],
        /^infer: .*small\.tif: is 30x40, .*frame1\.tif is 48x40$/,
      ],
      [
        [...frames, "--ev", "-2,0,2", "--ref", "4"],
        /^infer: --ref must be auto or a frame from 1 to 3, got 4$/,
      ],
      [
        frames,
        /^infer: .*frame1\.tif: has no EXIF exposure time; give the exposures with --ev, e\.g\. --ev -2,0,2$/,
      ],
      [
        [...frames, "--ev", "-2,0,2", "--weights", ckpt, "--variant", "s2"],
        /^infer: .*baseline\.safetensors: checkpoint is for variant="baseline", asked for "s2"$/,
      ],
      [
        [...frames, "--ev", "-2,0,2", "--weights", `${tmp}/none.safetensors`],
        /^infer: .*none\.safetensors: cannot read/,
      ],
      [
        [...frames, "--ev", "-2,0,2", "--weights", ckpt, "--untrained"],
        /^infer: --weights and --untrained exclude each other$/,
      ],
      [
        [frames[0], frames[1], `${tmp}/missing.tif`, "--ev", "-2,0,2"],
        /^infer: .*missing\.tif: no such file$/,
      ],
    ];
    for (const [args, re] of cases) {
      const model = args.includes("--weights") ? [] : TINY_UNTRAINED;
      const r = await runTool("infer", [...model, "--out", out, ...args]);
      strictEqual(r.code, 1, `expected failure for ${args.join(" ")}`);
      const lines = r.err.trim().split("\n").filter((l) => !l.includes("UNTRAINED"));
      strictEqual(lines.length, 1, r.err);
      assert(re.test(lines[0]), `${lines[0]} !~ ${re}`);
      assertEquals(await listing(`${tmp}/o`), []);
    }
    const r = await runTool("infer", [
      ...TINY_UNTRAINED,
      "--out",
      `${tmp}/o/x.jpg`,
      ...frames,
      "--ev",
      "-2,0,2",
    ]);
    assertEquals(
      r.err.trim(),
      `infer: --out ${tmp}/o/x.jpg: the HDR output must end in .hdr or .exr`,
    );
  });
});

Deno.test({
  name: "--device cuda without a GPU ends in one line saying what is missing",
  ignore: cudaUnavailable() === null,
}, async () => {
  const r = await runTool("infer", [...TINY_UNTRAINED, "--device", "cuda"]);
  strictEqual(r.code, 1);
  const lines = r.err.trim().split("\n").filter((l) => !l.startsWith("infer: no input given"));
  strictEqual(lines.length, 1, r.err);
  assert(/^infer: --device cuda: .+ not found \(tried .+\); /.test(lines[0]), lines[0]);
});

Deno.test("infer --summary describes the model infer would use: the shipped one by default", async () => {
  const r = await runTool("infer", ["--summary", "--json"]);
  strictEqual(r.code, 0, r.err);
  const { model } = JSON.parse(r.out);
  const shipped = await loadLFDiff(
    new URL("../weights/lfdiff-small.safetensors", import.meta.url).pathname,
  );
  assertEquals(
    [model.config, model.variant, model.params, model.trained],
    ["small", shipped.config.variant, shipped.numParameters(), true],
  );
});

Deno.test("infer --summary: the paper config is within 5% of every Table 3 count", async () => {
  const counts = async (config: string) => {
    const r = await runTool("infer", ["--summary", "--json", "--untrained", "--config", config]);
    strictEqual(r.code, 0, r.err);
    return JSON.parse(r.out).variants.map((
      x: { variant: string; params: number; paper: number },
    ) => [
      x.variant,
      x.params,
      x.paper,
    ]);
  };
  const paper = await counts("paper");
  assertEquals(paper, [
    ["baseline", 4970307, 5.09],
    ["s1", 5163705, 5.24],
    ["s2-no-dm", 5682585, 5.85],
    ["s2", 7333734, 7.48],
  ]);
  for (const [v, n, table] of paper) assert(Math.abs(n / 1e6 / table - 1) < 0.05, v);
  // §5.1 read literally (N_i = 3): about two thirds; see the README's Table 3 notes.
  assertEquals((await counts("paper-literal")).map((r: unknown[]) => r[1]), [
    2747055,
    2940453,
    3459333,
    5110482,
  ]);
});

Deno.test("every tool answers --help with its flags; an unknown flag gets one line", async () => {
  const tools = ["infer", "eval", "train", "bench", "export", "synth", "gpu-check"];
  for (const tool of tools) {
    const file = tool.replace("-", "_");
    const h = await runTool(file, ["--help"]);
    strictEqual(h.code, 0, h.err);
    assert(h.out.startsWith(`usage: deno task ${tool} `), h.out);
    assert(/\nflags:\n[\s\S]*--help[\s\S]*\nexamples:\n/.test(h.out), h.out);
    const bad = await runTool(file, ["--frobnicate", "3"]);
    strictEqual(bad.code, 1);
    assertEquals(bad.err.trim(), `${tool}: unknown option --frobnicate; see --help`);
  }
  const h = await runTool("infer", ["-h"]);
  for (
    const flag of [
      "--weights FILE",
      "--steps S",
      "--tile N|auto",
      "(default auto)",
      "--ev E1,E2,...",
    ]
  ) {
    assert(h.out.includes(flag), `infer --help lacks ${flag}`);
  }
});

Deno.test("infer --steps sets the DDIM steps; a bad count is one line", async () => {
  await withScene(async (dir, tmp) => {
    const r = await runTool("infer", [
      ...TINY_UNTRAINED,
      "--scene",
      dir,
      "--steps",
      "2",
      "--out",
      `${tmp}/s.hdr`,
      "--json",
    ]);
    strictEqual(r.code, 0, r.err);
    strictEqual(JSON.parse(r.out).steps, 2);
    assert(r.err.includes("DDIM step 2/2"), r.err);
    assert(!r.err.includes("DDIM step 3/"), r.err);
    const bad = await runTool("infer", [...TINY_UNTRAINED, "--scene", dir, "--steps", "0"]);
    strictEqual(bad.code, 1);
    assert(
      bad.err.trim().endsWith("infer: --steps: DDIM steps must be an integer in 1..20, got 0"),
      bad.err,
    );
  });
});

Deno.test("--tile auto runs whole images up to 2.6 MP and 1024-pixel tiles above", () => {
  strictEqual(tileFor("auto", 1600, 1625), 0); // 2,600,000 pixels
  strictEqual(tileFor("auto", 1601, 1625), 1024);
  strictEqual(tileFor("auto", 6000, 4000), 1024);
  strictEqual(tileFor("512", 6000, 4000), 512);
  strictEqual(tileFor("0", 6000, 4000), 0);
});

Deno.test("eval: table of metrics with means, --json and --save", async () => {
  await withScene(async (_dir, tmp) => {
    const r = await runTool("eval", [
      "--data",
      `${tmp}/set`,
      "--method",
      "merge",
      "--json",
      `${tmp}/r.json`,
      "--save",
      `${tmp}/saved`,
    ]);
    strictEqual(r.code, 0, r.err);
    assert(/^mean\s+\d+\.\d+\s+-?\d+\.\d+\s+0\.\d+\s+0\.\d+/m.test(r.out), r.out);
    const j = JSON.parse(await Deno.readTextFile(`${tmp}/r.json`));
    strictEqual(j.scenes.length, 1);
    assert(j.mean.psnrMu > 15, `merge PSNR-μ ${j.mean.psnrMu}`);
    assertEquals(await listing(`${tmp}/saved`), ["001.hdr", "001.png"]);
    const lf = await runTool("eval", ["--data", `${tmp}/set`, ...TINY_UNTRAINED]);
    strictEqual(lf.code, 0, lf.err);
    assert(lf.out.startsWith("method: lfdiff s2 (UNTRAINED)"), lf.out);
    const bad = await runTool("eval", ["--data", `${tmp}/nowhere`]);
    assertEquals(bad.err.trim(), `eval: ${tmp}/nowhere: no such folder`);
  });
});

Deno.test("--max-pixels refuses larger images in one line, before decoding them", async () => {
  await withScene(async (dir) => {
    const r = await runTool("infer", [
      ...TINY_UNTRAINED,
      "--scene",
      dir,
      "--max-pixels",
      "1000",
    ]);
    strictEqual(r.code, 1);
    const last = r.err.trim().split("\n").pop()!;
    assert(/^infer: .*frame1\.tif: .*48x40.*1000/.test(last), last);
    const bad = await runTool("eval", ["--data", dir, "--max-pixels", "-3"]);
    assertEquals(bad.err.trim(), "eval: --max-pixels must be a positive integer, got -3");
  });
});

Deno.test("export: float16 weights load back within half precision, half the size", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const model = new LFDiff({ ...TINY, variant: "s2" });
    await saveLFDiff(`${tmp}/a.safetensors`, model);
    const r = await runTool("export", [`${tmp}/a.safetensors`, `${tmp}/b.safetensors`, "--json"]);
    strictEqual(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const full = (await Deno.stat(`${tmp}/a.safetensors`)).size;
    assert(j.bytes < 0.6 * full, `${j.bytes} bytes against ${full}`);
    assert(j.worstRelative > 0 && j.worstRelative < 1e-3, `${j.worstRelative}`);
    const back = new Map((await loadLFDiff(`${tmp}/b.safetensors`)).namedParameters());
    strictEqual(back.size, model.namedParameters().length);
    for (const [name, p] of model.namedParameters()) {
      const a = p.toArray(), b = back.get(name)!.toArray();
      a.forEach((v, i) => assert(Math.abs(v - b[i]) <= 1e-3 * Math.abs(v) + 1e-7, name));
    }
    const bad = await runTool("export", [
      `${tmp}/a.safetensors`,
      `${tmp}/c.safetensors`,
      "--dtype",
      "f8",
    ]);
    strictEqual(bad.code, 1);
    assertEquals(bad.err.trim(), "export: --dtype must be f16 or f32, got f8");
    const missing = await runTool("export", [`${tmp}/none.safetensors`, `${tmp}/d.safetensors`]);
    strictEqual(missing.code, 1);
    assert(/^export: .*none\.safetensors: /.test(missing.err), missing.err);
    assertEquals(await listing(tmp), ["a.safetensors", "b.safetensors"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "bench --no-openblas times a training step without the OpenBLAS side; bf16 per round",
  ignore: testDevices()[0].ignore,
  async fn() {
    const r = await runTool("bench", [
      ...["--train-step", "--config", "tiny", "--batch", "1", "--iters", "1", "--runs", "2"],
      ...["--precision", "auto", "--torch-format", "nchw", "--no-openblas"],
    ]);
    strictEqual(r.code, 0, r.err);
    assert(/^cpu-dnnl +2 +\d+\.\d\d /m.test(r.out), r.out);
    assert(!/^cpu-openblas/m.test(r.out), r.out);
    // With bf16 the two sides' ratio comes per round too (each round ran them back to back).
    const paired =
      /^cpu-dnnl-bf16 takes [\d.]+× cpu-dnnl's time \(per round [\d.]+–[\d.]+, median /m;
    strictEqual(paired.test(r.out), bf16Unavailable() === null, r.out);
  },
});

Deno.test("bench's CPU peak: fp32 from FMA lanes, bf16 from AMX or AVX512-BF16, clock fallback", async () => {
  const cpu = (flags: string, mhz = "cpu MHz\t\t: 2500.000\n") => `${mhz}flags\t\t: ${flags}\n`;
  const noLscpu = () => Promise.resolve(null);
  // Zen 5-like: AVX-512 with VDPBF16PS, 2 cores at 2.5 GHz: 2 × 2 × 16 × 2 × 2.5 = 320.
  const zen = (await peakOf(cpu("fma avx512f avx512_bf16"), 2, noLscpu))!;
  strictEqual(zen.fp32, 320);
  strictEqual(zen.bf16, 640);
  // Sapphire Rapids-like: AMX's tile unit, 1,024 operations a cycle a core.
  const spr = (await peakOf(cpu("fma avx512f avx512_bf16 amx_tile amx_bf16"), 2, noLscpu))!;
  strictEqual(spr.fp32, 320);
  strictEqual(spr.bf16, 2 * 1024 * 2.5);
  assert(spr.bf16From!.startsWith("AMX-BF16"), spr.bf16From!);
  // AVX2 without bf16, clock from lscpu when /proc/cpuinfo has none.
  const avx2 = (await peakOf(cpu("fma avx2", ""), 4, () => Promise.resolve(3000)))!;
  strictEqual(avx2.fp32, 4 * 2 * 8 * 2 * 3);
  strictEqual(avx2.bf16, null);
  assert(avx2.clockFrom.includes("lscpu"), avx2.clockFrom);
  strictEqual(await peakOf(cpu("fma", ""), 1, noLscpu), null);
});
