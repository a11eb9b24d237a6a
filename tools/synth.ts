// `deno task synth`: synthetic handheld brackets with ground truth, in the Kalantari layout
// (OUT/Training/001…, OUT/Test/…), readable by every lfdiff tool.
//   --out DIR  --scenes N (4)  --size WxH (512x384)  --seed S (1)  --ev -2,0,2  --bits 16
//   --from map.hdr|.exr (a radiance map instead of the procedural scene)  --test N  --json

import { readImage } from "../io/codecs.ts";
import { synthesizeScene, writeScene } from "../io/synth.ts";
import { fail, flags, run } from "./cli.ts";

await run("synth", async () => {
  const { values } = flags("synth", {
    out: { type: "string" },
    scenes: { type: "string", default: "4" },
    size: { type: "string", default: "512x384" },
    seed: { type: "string", default: "1" },
    ev: { type: "string", default: "-2,0,2" },
    bits: { type: "string", default: "16" },
    from: { type: "string" },
    test: { type: "string" },
    json: { type: "boolean", default: false },
  });
  if (!values.out) fail("synth", "--out DIR is required");
  const scenes = Number(values.scenes), seed = Number(values.seed), bits = Number(values.bits);
  const size = /^(\d+)x(\d+)$/.exec(values.size!);
  if (!size) fail("synth", `--size must be WxH, got ${values.size}`);
  const [width, height] = [Number(size[1]), Number(size[2])];
  const evs = values.ev!.split(",").map(Number);
  if (!(Number.isInteger(scenes) && scenes >= 1)) {
    fail("synth", `--scenes must be a positive integer`);
  }
  if (evs.length !== 3 || evs.some((e) => !Number.isFinite(e))) {
    fail("synth", `--ev needs three numbers, got ${values.ev}`);
  }
  if (bits !== 8 && bits !== 16) fail("synth", `--bits must be 8 or 16`);
  if (width < 16 || height < 16) {
    fail("synth", `--size ${values.size} is too small (16x16 at least)`);
  }
  const nTest = values.test === undefined
    ? Math.max(1, Math.round(scenes / 4))
    : Number(values.test);
  if (!(Number.isInteger(nTest) && nTest >= 0 && nTest <= scenes)) {
    fail("synth", `--test must be between 0 and --scenes`);
  }
  const radiance = values.from ? await readImage(values.from) : undefined;

  const written: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < scenes; i++) {
    const isTest = i >= scenes - nTest;
    const idx = isTest ? i - (scenes - nTest) + 1 : i + 1;
    const dir = `${values.out}/${isTest ? "Test" : "Training"}/${String(idx).padStart(3, "0")}`;
    const scene = synthesizeScene({
      width,
      height,
      seed: seed * 7919 + i,
      evs,
      bits: bits as 8 | 16,
      radiance,
    });
    await writeScene(dir, scene);
    written.push(dir);
    const el = (performance.now() - t0) / 1000, eta = (el / (i + 1)) * (scenes - i - 1);
    console.error(
      `synth: scene ${i + 1}/${scenes} → ${dir} (${el.toFixed(1)} s, ETA ${eta.toFixed(1)} s)`,
    );
  }
  const summary = {
    out: values.out,
    scenes: written,
    width,
    height,
    evs,
    bits,
    seconds: (performance.now() - t0) / 1000,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${scenes} scenes (${scenes - nTest} training, ${nTest} test), ${width}x${height}, EV ${
        evs.join(",")
      }, ${bits}-bit → ${values.out}`,
    );
  }
});
