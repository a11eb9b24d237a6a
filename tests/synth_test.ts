// The synthetic bracket generator: a seed fixes a scene; the ground truth is the reference
// frame's radiance clipped where the shortest exposure clips, in shortest-exposure units;
// EVs are written from the shortest frame, in the ±1, ±2 and ±3 sets; the camera clips raw
// channels before white balance and a colour matrix, yet agrees with the ground truth where
// the reference is well exposed; views come from the middle latitudes of panoramas; held-out
// maps never reach a Training scene; a scene renders fast.

import {
  EV_SETS,
  type RadianceMap,
  synthesizeScene,
  toRadianceMap,
} from "@lfdiff/datasets/synth.ts";
import { expose, plainSensor, sampleSensor } from "@lfdiff/datasets/synth/camera.ts";
import { liftPhoto, MAX_SIDE } from "@lfdiff/datasets/synth/photos.ts";
import { srgbDecode } from "@lfdiff/imaging/tonemap.ts";
import { newImage } from "@lfdiff/io/image.ts";
import { encodeRadiance } from "@lfdiff/io/radiance.ts";
import { findScenes, loadScene } from "@lfdiff/datasets/dataset.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert, assertClose, assertEquals, strictEqual } from "./assert.ts";
import { hlgRec2020ToLinear709, hlgToLinear } from "@lfdiff/datasets/hdr_photos.ts";
import { runTool } from "./run_tool.ts";

/** A small 2:1 panorama: smooth random radiance around `level`, a lamp and a bright band. */
function fakeMap(name: string, seed: number, w = 128, level = 0.3): RadianceMap {
  const h = w / 2, img = newImage(w, h, 3, 32), rng = new Rng(seed);
  const f = [1, 2, 3].map(() => 0.05 + 0.2 * rng.float());
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        img.data[(y * w + x) * 3 + c] = level * (1.2 + Math.sin(f[c] * x + c) * Math.cos(f[c] * y));
      }
    }
  }
  const lamp = ((h >> 2) * w + (w >> 2)) * 3;
  img.data.fill(500 * level, lamp, lamp + 3);
  img.data.fill(50 * level, (h >> 1) * w * 3, ((h >> 1) + 1) * w * 3); // a row of windows
  return toRadianceMap(name, img);
}

const MAPS = [fakeMap("a", 1), fakeMap("b", 2), fakeMap("c", 3)];

Deno.test("a seed fixes the scene; another seed gives another", () => {
  const o = { width: 48, height: 32, maps: MAPS, evs: "mixed" as const, bits: "mixed" as const };
  const a = synthesizeScene({ ...o, seed: 9 }), b = synthesizeScene({ ...o, seed: 9 });
  for (let f = 0; f < 3; f++) assertEquals(a.ldrs[f].data, b.ldrs[f].data);
  assertEquals(a.gt.data, b.gt.data);
  assertEquals(a.meta, b.meta);
  const c = synthesizeScene({ ...o, seed: 10 });
  assert(c.gt.data.some((v, i) => v !== a.gt.data[i]));
});

Deno.test("ground truth: reference radiance clipped at 1, where the shortest frame clips", () => {
  // No motion and the plain camera (no colour processing, exact exposures), so frames and
  // radiance line up.
  const camera = plainSensor({ shot: 1e-5, read: 1e-7 });
  for (const seed of [1, 2, 3]) {
    const s = synthesizeScene({
      width: 64,
      height: 48,
      seed,
      maps: MAPS,
      objects: 0,
      shake: 0,
      key: 0.5, // bright enough that the band clips even the shortest frame
      camera,
    });
    assertEquals(s.evs, [0, 2, 4]);
    const r = s.radiance.data, g = s.gt.data, short = s.ldrs[0].data, long = s.ldrs[2].data;
    let clipped = 0;
    for (let i = 0; i < r.length; i++) {
      strictEqual(g[i], Math.fround(Math.min(r[i], 1)));
      if (r[i] > 1.3) {
        clipped++;
        strictEqual(short[i], 1, "the shortest frame saturates where the radiance passes 1");
      }
      if (r[i] * 16 > 1.3) strictEqual(long[i], 1, "the longest saturates 4 stops earlier");
      if (r[i] < 0.7 && r[i] > 0.05) {
        const h = Math.pow(short[i], 2.2); // H of the shortest frame: its own units (5σ of noise)
        assert(
          Math.abs(h - g[i]) < 5 * Math.sqrt(1e-5 * g[i] + 1e-7) + 1e-4,
          `H ${h} vs GT ${g[i]}`,
        );
      }
    }
    assert(clipped > 0, "the band clips the shortest frame");
    assert(g.every((v) => v >= 0 && v <= 1));
  }
});

Deno.test("EVs: ±1, ±2 and ±3 sets, written from the shortest frame; bit depths mixed on request", async () => {
  assertEquals(synthesizeScene({ width: 32, height: 24, seed: 1, evs: [-3, 0, 3] }).evs, [0, 3, 6]);
  assertEquals(synthesizeScene({ width: 32, height: 24, seed: 1, evs: [0, 2, 4] }).evs, [0, 2, 4]);
  const sets = new Set<string>(), bits = new Set<number>();
  for (let seed = 0; seed < 16; seed++) {
    const s = synthesizeScene({
      width: 32,
      height: 24,
      seed,
      maps: MAPS,
      evs: "mixed",
      bits: "mixed",
    });
    sets.add(s.evs.join());
    bits.add(s.ldrs[0].bitDepth);
    assert(s.gt.data.every((v) => v <= 1));
  }
  assertEquals([...sets].sort(), EV_SETS.map((e) => e.map((v) => v - e[0]).join()).sort());
  assertEquals([...bits].sort(), [16, 8]);
  const dir = await Deno.makeTempDir();
  try {
    const out = await runTool("synth", [
      "--out",
      dir,
      "--scenes",
      "1",
      "--test",
      "0",
      "--size",
      "32x24",
      "--ev",
      "-3,0,3",
    ]);
    strictEqual(out.code, 0, out.err);
    strictEqual(await Deno.readTextFile(`${dir}/Training/001/exposure.txt`), "0\n3\n6\n");
    const scene = await loadScene((await findScenes(dir))[0]);
    assertEquals(scene.evs, [0, 3, 6]);
    assert(scene.gt!.data.every((v) => v <= 1));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("panorama views come from the middle latitudes; the reference median is the key", () => {
  const big = [fakeMap("wide", 4, 512), fakeMap("other", 5, 256)];
  for (let seed = 0; seed < 8; seed++) {
    const s = synthesizeScene({
      width: 96,
      height: 64,
      seed,
      maps: big,
      background: 0,
      key: 0.18,
      objects: 0,
    });
    const v = s.meta.view;
    const [top, bottom] = [Math.round(0.2 * 256), Math.round(0.8 * 256)];
    assert(v.y0 >= top && v.y0 + 2 * 64 * v.step <= bottom + 1e-6, JSON.stringify(v));
    assert(v.degrees! >= 60 && v.degrees! <= 150, `${v.degrees}°`);
    const lum: number[] = [];
    const r = s.radiance.data;
    for (let i = 0; i < r.length; i += 3) {
      lum.push((0.2126 * r[i] + 0.7152 * r[i + 1] + 0.0722 * r[i + 2]) * 4);
    }
    lum.sort((a, b) => a - b);
    const median = lum[lum.length >> 1];
    assert(Math.abs(median / 0.18 - 1) < 0.1, `reference median ${median}`);
  }
});

Deno.test("--test-from maps alone make the Test scenes, and never a Training scene", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [i, name] of ["t1", "t2", "t3", "h1", "h2"].entries()) {
      const folder = name[0] === "t" ? "train" : "held";
      await Deno.mkdir(`${dir}/${folder}`, { recursive: true });
      const m = fakeMap(name, 20 + i);
      const img = { width: m.width, height: m.height, channels: 3, bitDepth: 32, data: m.data };
      await Deno.writeFile(`${dir}/${folder}/${name}.hdr`, encodeRadiance(img));
    }
    const out = await runTool("synth", [
      "--out",
      `${dir}/set`,
      "--scenes",
      "8",
      "--test",
      "3",
      "--size",
      "40x32",
      "--json",
      "--from",
      `${dir}/train`,
      "--test-from",
      `${dir}/held/h1.hdr,${dir}/held/h2.hdr`,
    ]);
    strictEqual(out.code, 0, out.err);
    assertEquals(JSON.parse(out.out).test, ["h1", "h2"]);
    const used = { train: new Set<string>(), test: new Set<string>() };
    for (const info of await findScenes(`${dir}/set`)) {
      const meta = JSON.parse(await Deno.readTextFile(`${info.dir}/synth.json`));
      const set = used[info.split as "train" | "test"];
      set.add(meta.background);
      for (const o of meta.objects) set.add(o.source);
    }
    assertEquals([...used.test].filter((n) => n[0] !== "h"), []);
    assertEquals([...used.train].filter((n) => n[0] !== "t"), []);
    assertEquals(used.train.size, 3, "training scenes cycle through every training map");
    // Held-out maps named inside the --from folder are taken out of the training pool.
    const inside = await runTool("synth", [
      "--out",
      `${dir}/y`,
      "--scenes",
      "4",
      "--test",
      "1",
      "--size",
      "32x24",
      "--json",
      "--from",
      `${dir}/train`,
      "--test-from",
      `${dir}/train/t1.hdr`,
    ]);
    strictEqual(inside.code, 0, inside.err);
    assertEquals(JSON.parse(inside.out).train, ["t2", "t3"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 384×256 scene from 1024×512 maps renders in well under a second or two", () => {
  const maps = [fakeMap("p", 7, 1024), fakeMap("q", 8, 1024), fakeMap("r", 9, 512)];
  synthesizeScene({ width: 64, height: 48, seed: 0, maps }); // warm-up (JIT)
  const t0 = performance.now();
  for (let seed = 1; seed <= 3; seed++) {
    synthesizeScene({ width: 384, height: 256, seed, maps, objects: 6 });
  }
  const each = (performance.now() - t0) / 3;
  assert(each < 2500, `${each.toFixed(0)} ms per scene`);
});

Deno.test("the camera: raw channels clip before white balance, so highlights shift hue", () => {
  const rng = new Rng(4);
  for (let k = 0; k < 8; k++) {
    const cam = sampleSensor(rng, { bits: 16 });
    // Well exposed: a colour comes back through raw, white balance and the matrix unchanged
    // (up to the 16-bit code and noise).
    const colour = [0.3, 0.18, 0.07];
    const mid = expose(new Float32Array(colour), 1, 1, 0, { ...cam, shot: 0, read: 0 }, rng);
    for (let c = 0; c < 3; c++) {
      assert(Math.abs(Math.pow(mid.data[c], 2.2) / colour[c] - 1) < 1e-3, `${mid.data} ${colour}`);
    }
    // A neutral highlight clips to white; a warm one past its raw red saturation changes hue.
    const white = expose(new Float32Array([3, 3, 3]), 1, 1, 0, { ...cam, shot: 0, read: 0 }, rng);
    assertEquals([...white.data], [1, 1, 1]);
    const warm = [1.6, 0.8, 0.35];
    const hot = expose(new Float32Array(warm), 1, 1, 0, { ...cam, shot: 0, read: 0 }, rng);
    const lin = [...hot.data].map((v) => Math.pow(v, 2.2));
    assert(lin[0] < 1.0001, "no channel passes 1");
    assert(
      Math.abs(lin[1] / lin[0] - warm[1] / warm[0]) > 0.05,
      `the hue shifts where red clips: ${lin} from ${warm}`,
    );
  }
});

Deno.test("the camera: an sRGB curve comes back in the convention, with its shadows crushed", () => {
  const rng = new Rng(5);
  // A ramp of 4096 radiances from 1e-5 to 1, through an 8-bit camera without noise or JPEG.
  const n = 4096, ramp = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) ramp.fill(Math.pow(10, -5 + (5 * i) / (n - 1)), 3 * i, 3 * i + 3);
  const cam = { ...plainSensor({ bits: 8, shot: 0, read: 0 }) };
  const [gamma, srgb] = (["gamma", "srgb"] as const).map((curve) =>
    expose(ramp, n, 1, 0, { ...cam, curve }, rng).data
  );
  for (let i = 0; i < 3 * n; i++) {
    // Mid-tones read as the convention's code within the 8-bit step (sRGB's slope ≤ 1.5×).
    if (ramp[i] > 0.05) assert(Math.abs(srgb[i] - gamma[i]) < 0.007, `${ramp[i]}: ${srgb[i]}`);
  }
  // sRGB's first code above black is radiance 3e-4, 0.025 in the convention: below that the
  // frame holds only black, where γ 2.2's 8 bits hold five values (measured).
  const deepest = (d: Float32Array) => new Set([...d].filter((v) => v > 0 && v < 0.02)).size;
  const g = deepest(gamma), s = deepest(srgb);
  assert(g === 5 && s === 0, `values in (0, 0.02): γ 2.2 ${g}, sRGB ${s}`);
});

Deno.test("the camera: light below its black point is lost, the rest comes back", () => {
  const rng = new Rng(6);
  const n = 4096, ramp = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) ramp.fill(Math.pow(10, -5 + (5 * i) / (n - 1)), 3 * i, 3 * i + 3);
  const b = 0.003, cam = plainSensor({ bits: 8, shot: 0, read: 0, curve: "srgb" });
  const [open, clipped] = [0, b].map((black) => expose(ramp, n, 1, 0, { ...cam, black }, rng).data);
  let lost = 0, kept = 0;
  for (let i = 0; i < 3 * n; i++) {
    const x = ramp[i], v = clipped[i];
    if (x < b) (lost++, strictEqual(v, 0, `${x} is below the black point: ${v}`));
    // Above it, the frame's radiance is the light's within the codes' steps: 8 bits stretched
    // over (b, 1] hold it to 3% from 2b up (measured 2.5%), and mid-tones read as without one.
    if (x > 2 * b) (kept++, assert(Math.abs(v ** 2.2 / x - 1) < 0.03, `${x}: ${v ** 2.2}`));
    if (x > 0.05) assert(Math.abs(v - open[i]) < 0.007, `${x}: ${v} against ${open[i]}`);
  }
  assert(lost > 1000 && kept > 1000, `${lost} lost, ${kept} kept`);
});

Deno.test("the camera: 8-bit frames are JPEGs; exposures are off their EVs by 0.1 stop at most", () => {
  for (let seed = 0; seed < 6; seed++) {
    const s = synthesizeScene({ width: 64, height: 48, seed, maps: MAPS, bits: "mixed" });
    const { sensor, exposures } = s.meta;
    if (sensor.bits === 8) assert(sensor.jpeg >= 75 && sensor.jpeg <= 98, `${sensor.jpeg}`);
    else strictEqual(sensor.jpeg, 0);
    strictEqual(exposures[1], s.evs[1], "the reference is exact: it defines the units");
    for (const f of [0, 2]) assert(Math.abs(exposures[f] - s.evs[f]) <= 0.1);
    assert(exposures[0] !== s.evs[0] || exposures[2] !== s.evs[2]);
  }
});

Deno.test("photographs are lifted to HDR: sRGB decoded, clipped highlights boosted, shrunk", () => {
  const w = 1600, h = 100, photo = newImage(w, h, 3, 8);
  for (let i = 0; i < w * h; i++) {
    const v = i % w < 800 ? 0.5 : 1; // half mid-grey, half clipped
    for (let c = 0; c < 3; c++) photo.data[i * 3 + c] = v;
  }
  const lin = liftPhoto("a street", photo);
  assertEquals([lin.width, lin.height], [MAX_SIDE, Math.round((h * MAX_SIDE) / w)]);
  const at = (x: number) => lin.data[(Math.floor(lin.height / 2) * lin.width + x) * 3 + 1];
  assert(Math.abs(at(10) - srgbDecode(0.5)) < 1e-5, `mid-grey ${at(10)}`);
  const gain = at(lin.width - 10);
  assert(gain >= 4 && gain <= 32, `a clipped code stands for 4-32x white: ${gain}`);
  strictEqual(
    liftPhoto("a street", photo).data[lin.data.length - 1],
    lin.data[lin.data.length - 1],
  );
});

Deno.test("HDR photographs: HLG back to linear light, Rec. 2020 to Rec. 709 keeping white", () => {
  // BT.2100: E' = 0.5 is 1/12 of peak, E' = 1 the peak, and the two pieces meet there.
  assertClose([hlgToLinear(0.5), hlgToLinear(1)], [1 / 12, 1], 1e-6, "HLG at 0.5 and 1");
  assertClose([hlgToLinear(0.5 + 1e-9)], [hlgToLinear(0.5 - 1e-9)], 1e-8, "HLG's pieces meet");
  strictEqual(hlgToLinear(0), 0);
  const img = newImage(3, 1, 3, 16);
  img.data.set([0.5, 0.5, 0.5, 1, 1, 1, 0, 0, 0.9]); // grey, white, and pure Rec. 2020 blue
  const out = hlgRec2020ToLinear709(img);
  assertClose(out.data.slice(0, 6), [1, 1, 1, 12, 12, 12].map((v) => v / 12), 1e-3, "grey, white");
  // Outside Rec. 709: its red and green come out negative, clamped to no light.
  assertEquals([out.data[6], out.data[7]], [0, 0]);
  assert(out.data[8] > hlgToLinear(0.9), `blue ${out.data[8]}`);
});
