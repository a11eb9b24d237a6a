// `deno task synth`: synthetic handheld brackets with ground truth, in the Kalantari layout
// (OUT/Training/001…, OUT/Test/…), readable by every lfdiff tool; `--help` lists the flags.
// Training scenes cycle through the --from maps in a seeded order, as backgrounds, with
// object textures from the other maps; Test scenes likewise through --test-from (or --from).
// Maps named by --test-from are held out: no Training scene uses them, as background or
// texture, and no Test scene uses anything else.

import { Rng } from "../ops/rng.ts";
import { type RadianceMap, readMaps, synthesizeScene, writeScene } from "../datasets/synth.ts";
import { cameraChoice, isBlackRange } from "../datasets/synth/camera.ts";
import { decodeOptions, fail, flags, MAX_PIXELS_FLAG, run } from "./cli.ts";

await run("synth", async () => {
  const { values } = flags("synth", {
    out: { type: "string", arg: "DIR", help: "where the scenes go (required)" },
    scenes: { type: "string", default: "4", arg: "N", help: "number of scenes" },
    size: { type: "string", default: "384x256", arg: "WxH", help: "frame size" },
    seed: { type: "string", default: "1", arg: "S", help: "fixes every scene" },
    ev: {
      type: "string",
      default: "-2,0,2",
      arg: "E1,E2,E3|mixed",
      help: "exposures in stops, or mixed (±2 or ±3 per scene); written from the shortest frame",
    },
    bits: { type: "string", default: "16", arg: "8|16|mixed", help: "LDR bit depth" },
    objects: { type: "string", arg: "N", help: "moving objects per scene (default 2–6 at random)" },
    curve: {
      type: "string",
      default: "gamma",
      arg: "gamma|srgb",
      help: "the cameras' curve: the convention, or sRGB's undone into it (real JPEGs' shadows)",
    },
    black: {
      type: "string",
      arg: "LO,HI",
      help: "the cameras' black points, fractions of white, log-uniform per scene (default none)",
    },
    noise: {
      type: "string",
      default: "on",
      arg: "on|off",
      help: "the sensors' shot and read noise; off: frames exposed from the maps as they are",
    },
    from: {
      type: "string",
      arg: "MAP,FOLDER,…",
      help: "radiance maps (.hdr/.exr, or folders of them); default: a procedural scene",
    },
    "test-from": {
      type: "string",
      arg: "MAP,FOLDER,…",
      help: "held-out maps: the Test scenes' only material, taken out of the --from pool",
    },
    test: { type: "string", arg: "N", help: "how many of the scenes are Test scenes (a quarter)" },
    json: { type: "boolean", default: false, help: "print the summary as JSON" },
    "max-pixels": MAX_PIXELS_FLAG,
  }, {
    usage: ["--out DIR [--from MAPS] [--test-from MAPS] [flags]"],
    about:
      "Synthetic handheld brackets with ground truth in the Kalantari layout (frame1–3.tif,\n" +
      "exposure.txt, HDRImg.hdr in shortest-exposure units, synth.json, preview.png).",
    examples: [
      "--out data/synth --scenes 8 --size 256x192",
      "--out DIR --scenes 624 --test 24 --ev mixed --bits mixed --from maps/ \\\n" +
      "      --test-from maps/night.hdr,maps/lobby.hdr",
    ],
  });
  if (!values.out) fail("synth", "--out DIR is required");
  const scenes = Number(values.scenes), seed = Number(values.seed);
  const size = /^(\d+)x(\d+)$/.exec(values.size!);
  if (!size) fail("synth", `--size must be WxH, got ${values.size}`);
  const [width, height] = [Number(size[1]), Number(size[2])];
  const evs = values.ev === "mixed" ? "mixed" : values.ev!.split(",").map(Number);
  if (!(Number.isInteger(scenes) && scenes >= 1)) {
    fail("synth", `--scenes must be a positive integer`);
  }
  if (evs !== "mixed" && (evs.length !== 3 || evs.some((e) => !Number.isFinite(e)))) {
    fail("synth", `--ev needs three numbers or "mixed", got ${values.ev}`);
  }
  const bits = values.bits === "mixed" ? "mixed" : Number(values.bits);
  if (bits !== 8 && bits !== 16 && bits !== "mixed") fail("synth", `--bits must be 8, 16 or mixed`);
  const curve = values.curve as "gamma" | "srgb";
  if (curve !== "gamma" && curve !== "srgb") fail("synth", `--curve must be gamma or srgb`);
  const black = values.black?.split(",").map(Number);
  if (black && !isBlackRange(black)) {
    fail("synth", `--black must be LO,HI with 0 < LO ≤ HI < 0.5, got ${values.black}`);
  }
  if (values.noise !== "on" && values.noise !== "off") fail("synth", `--noise must be on or off`);
  const noise = values.noise === "on";
  const objects = values.objects === undefined ? undefined : Number(values.objects);
  if (objects !== undefined && !(Number.isInteger(objects) && objects >= 0)) {
    fail("synth", `--objects must be a whole number`);
  }
  if (width < 16 || height < 16) {
    fail("synth", `--size ${values.size} is too small (16x16 at least)`);
  }
  const nTest = values.test === undefined
    ? Math.max(1, Math.round(scenes / 4))
    : Number(values.test);
  if (!(Number.isInteger(nTest) && nTest >= 0 && nTest <= scenes)) {
    fail("synth", `--test must be between 0 and --scenes`);
  }
  const list = (v?: string) => (v ?? "").split(",").filter(Boolean);
  // Maps named by --test-from are held out: dropped from the --from pool (so --from can name
  // the whole folder) and used by the Test scenes alone.
  const decode = decodeOptions(values);
  const testOnly = values["test-from"] ? await readMaps(list(values["test-from"]), decode) : null;
  const trainMaps = (await readMaps(list(values.from), decode)).filter((m) =>
    !testOnly?.some((t) => t.name === m.name)
  );
  if (values.from && !trainMaps.length) {
    fail("synth", "every --from map is held out by --test-from");
  }
  const testMaps = testOnly ?? trainMaps;
  // Each pool is visited in a seeded order, every map once per cycle.
  const rng = new Rng(seed);
  const cycle = (pool: RadianceMap[]) => {
    let order: number[] = [];
    return () => {
      if (!order.length) {
        order = pool.map((_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
      }
      return order.pop()!;
    };
  };
  const nextTrain = cycle(trainMaps), nextTest = cycle(testMaps);

  const written: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < scenes; i++) {
    const isTest = i >= scenes - nTest;
    const idx = isTest ? i - (scenes - nTest) + 1 : i + 1;
    const dir = `${values.out}/${isTest ? "Test" : "Training"}/${String(idx).padStart(3, "0")}`;
    const maps = isTest ? testMaps : trainMaps;
    const scene = synthesizeScene({
      width,
      height,
      seed: seed * 7919 + i,
      camera: cameraChoice(seed * 7919 + i, { curve, black, noise }),
      evs,
      bits,
      objects,
      maps,
      background: maps.length ? (isTest ? nextTest : nextTrain)() : undefined,
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
    curve,
    black: black ?? null,
    noise,
    train: trainMaps.map((m) => m.name),
    test: testMaps.map((m) => m.name),
    seconds: (performance.now() - t0) / 1000,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${scenes} scenes (${scenes - nTest} training, ${nTest} test), ${width}x${height}, EV ${
        evs === "mixed" ? "mixed" : evs.join(",")
      }, ${bits}-bit, ${
        trainMaps.length
          ? `${trainMaps.length} training / ${testMaps.length} test maps`
          : "procedural"
      } → ${values.out}`,
    );
  }
});
