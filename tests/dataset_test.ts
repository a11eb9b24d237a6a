// Datasets end to end: synthetic scenes written in the Kalantari layout are found, loaded
// and cropped; the reference frame agrees with the ground truth while the other frames show
// the motion (ghosting); Wu et al.'s layout loads too; broken scenes fail with one line.
// The exposure convention holds at every entry point: a bracket or scene given as −2,0,2
// is the same as its 0,2,4 twin. The loader shuffles across all scenes and augments on demand.

import { findScenes, loadScene } from "@lfdiff/datasets/dataset.ts";
import { ldrToLinear } from "@lfdiff/imaging/exposure.ts";
import { type Batch, CropLoader, cropPositions } from "@lfdiff/datasets/loader.ts";
import { synthesizeScene, writeScene, writeSynthSet } from "@lfdiff/datasets/synth.ts";
import { plainSensor } from "@lfdiff/datasets/synth/camera.ts";
import { encodeTiff } from "@lfdiff/io/tiff.ts";
import { encodeRadiance } from "@lfdiff/io/radiance.ts";
import { newImage } from "@lfdiff/io/image.ts";
import { bracketInputs } from "@lfdiff/model/inputs.ts";
import * as T from "@lfdiff/ops/mod.ts";
import { assert, assertClose, assertEquals, assertThrows, strictEqual } from "./assert.ts";
import { runTool } from "./run_tool.ts";

const W = 160, H = 136;
const CAMERA = plainSensor({ shot: 5e-5, read: 1e-6 });

// The plain camera (the network's convention, no colour processing, exact exposures) with
// little noise, so linearised frames match the ground truth.
const makeSet = (root: string, n: number) =>
  writeSynthSet(root, n, { width: W, height: H, seed: 40, camera: CAMERA });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Share of well-exposed pixels whose linearised value is off the ground truth by > 25%. */
function mismatch(lin: Float32Array, ldr: Float32Array, gt: Float32Array): number {
  let n = 0, bad = 0;
  for (let i = 0; i < gt.length; i++) {
    if (ldr[i] < 0.15 || ldr[i] > 0.85) continue; // dark (noisy) or near clipping
    n++;
    if (Math.abs(lin[i] - gt[i]) > 0.25 * gt[i]) bad++;
  }
  return bad / Math.max(n, 1);
}

Deno.test("synthetic scenes load; reference matches ground truth, other frames show motion", async () => {
  await withDir(async (root) => {
    await makeSet(root, 3);
    const all = await findScenes(root);
    assertEquals(all.map((s) => `${s.split}/${s.name}/${s.layout}`), [
      "test/003/kalantari",
      "train/001/kalantari",
      "train/002/kalantari",
    ]);
    strictEqual((await findScenes(root, "train")).length, 2);
    const scene = await loadScene(all[1]);
    assertEquals(scene.evs, [0, 2, 4]);
    assertEquals([scene.gt!.width, scene.gt!.height], [W, H]);
    const ref = mismatch(
      ldrToLinear(scene.ldrs[1], scene.evs[1]).data,
      scene.ldrs[1].data,
      scene.gt!.data,
    );
    const others = [0, 2].map((f) =>
      mismatch(ldrToLinear(scene.ldrs[f], scene.evs[f]).data, scene.ldrs[f].data, scene.gt!.data)
    );
    assert(
      ref < 0.01,
      `reference frame disagrees with the ground truth on ${(100 * ref).toFixed(2)}% of pixels`,
    );
    for (const m of others) {
      assert(m > 0.05, `non-reference frame differs on only ${(100 * m).toFixed(2)}% of pixels`);
    }
    // The ground truth stops where the shortest exposure saturates: 1 in its units.
    assert(Math.max(...scene.gt!.data) <= 1);
  });
});

Deno.test("exposure convention: a bracket as −2,0,2 gives the network what 0,2,4 gives", () => {
  T.scope(() => {
    const ldr = [0, 1, 2].map(() => T.rand([1, 3, 8, 8], new T.Rng(3)));
    const a = bracketInputs(ldr, [-2, 0, 2]).map((t) => t.toArray());
    const b = bracketInputs(ldr, [0, 2, 4]).map((t) => t.toArray());
    assertEquals(a, b);
    // H of the shortest frame is L^2.2 itself: shortest-exposure units.
    const l = ldr[0].toArray();
    assert(Math.abs(a[0][3 * 64] - Math.pow(l[0], 2.2)) < 1e-6);
  });
});

Deno.test("exposure convention: a scene stored as −2,0,2 with a GT in reference units loads as its 0,2,4 twin", async () => {
  await withDir(async (root) => {
    const s = synthesizeScene({ width: 48, height: 40, seed: 6 });
    await writeScene(`${root}/a`, s);
    await writeScene(`${root}/b`, s);
    // The twin: EVs around the reference and a ground truth where 1.0 saturates the reference.
    await Deno.writeTextFile(`${root}/b/exposure.txt`, "-2\n0\n2\n");
    const ref = { ...s.gt, data: s.gt.data.map((v) => v * 4) };
    await Deno.writeFile(`${root}/b/HDRImg.hdr`, encodeRadiance(ref));
    const [a, b] = [
      await loadScene((await findScenes(`${root}/a`))[0]),
      await loadScene((await findScenes(`${root}/b`))[0]),
    ];
    assertEquals(b.evs, [0, 2, 4]);
    assertEquals(b.evs, a.evs);
    assertEquals(b.gt!.data, a.gt!.data);
  });
});

Deno.test("synthesis is deterministic under a seed", () => {
  const a = synthesizeScene({ width: 40, height: 32, seed: 9 }),
    b = synthesizeScene({ width: 40, height: 32, seed: 9 });
  assertEquals(a.ldrs[0].data, b.ldrs[0].data);
  assertEquals(a.gt.data, b.gt.data);
  const c = synthesizeScene({ width: 40, height: 32, seed: 10 });
  assert(c.gt.data.some((v, i) => v !== a.gt.data[i]));
});

Deno.test("Wu et al.'s renamed layout is recognised and loads", async () => {
  await withDir(async (root) => {
    const s = synthesizeScene({ width: 48, height: 40, seed: 3 });
    await writeScene(`${root}/k`, s);
    const dir = `${root}/wu/Test/007`;
    await Deno.mkdir(dir, { recursive: true });
    for (const i of [1, 2, 3]) {
      await Deno.copyFile(`${root}/k/frame${i}.tif`, `${dir}/input_${i}_aligned.tif`);
    }
    await Deno.copyFile(`${root}/k/exposure.txt`, `${dir}/input_exp.txt`);
    await Deno.copyFile(`${root}/k/HDRImg.hdr`, `${dir}/ref_hdr_aligned.hdr`);
    const [info] = await findScenes(`${root}/wu`);
    strictEqual(info.layout, "wu");
    strictEqual(info.split, "test");
    const scene = await loadScene(info);
    assertEquals(
      scene.ldrs[2].data,
      (await loadScene((await findScenes(`${root}/k`))[0])).ldrs[2].data,
    );
  });
});

Deno.test("scene folders and files behind symbolic links are found; dangling links are skipped", async () => {
  await withDir(async (root) => {
    await writeScene(`${root}/store/a`, synthesizeScene({ width: 48, height: 40, seed: 3 }));
    await Deno.mkdir(`${root}/set/Training`, { recursive: true });
    await Deno.symlink(`${root}/store/a`, `${root}/set/Training/001`);
    await Deno.symlink(`${root}/nowhere`, `${root}/set/Training/002`);
    await Deno.mkdir(`${root}/set/Test/001`, { recursive: true });
    for (const f of ["frame1.tif", "frame2.tif", "frame3.tif", "exposure.txt", "HDRImg.hdr"]) {
      await Deno.symlink(`${root}/store/a/${f}`, `${root}/set/Test/001/${f}`);
    }
    const scenes = await findScenes(`${root}/set`);
    assertEquals(scenes.map((s) => `${s.split} ${s.name}`), ["test 001", "train 001"]);
    strictEqual((await loadScene(scenes[1])).ldrs.length, 3);
  });
});

Deno.test("broken scenes fail with one line naming the file and the problem", async () => {
  await withDir(async (root) => {
    const s = synthesizeScene({ width: 48, height: 40, seed: 4 });
    const fresh = async (name: string) => {
      await writeScene(`${root}/${name}`, s);
      return `${root}/${name}`;
    };
    const load = async (dir: string) => loadScene((await findScenes(dir))[0]);
    const rejects = async (p: Promise<unknown>, re: RegExp) => {
      try {
        await p;
      } catch (e) {
        assert(re.test((e as Error).message), (e as Error).message);
        return;
      }
      throw new Error(`expected ${re}`);
    };
    let d = await fresh("missing");
    await Deno.remove(`${d}/frame2.tif`);
    await rejects(load(d), /missing: needs 3 LDR frames, found 2 \.tif files/);
    d = await fresh("size");
    await Deno.writeFile(`${d}/frame3.tif`, encodeTiff(newImage(40, 40, 3, 16)));
    await rejects(load(d), /size\/frame3\.tif: is 40x40, the reference frame 48x40/);
    d = await fresh("evs");
    await Deno.writeTextFile(`${d}/exposure.txt`, "-2\n0\n");
    await rejects(load(d), /evs\/exposure\.txt: needs 3 exposure values, found 2/);
    d = await fresh("nan");
    await Deno.writeTextFile(`${d}/exposure.txt`, "-2\nzero\n2\n");
    await rejects(load(d), /nan\/exposure\.txt: exposure values must be numbers/);
    d = await fresh("corrupt");
    await Deno.writeFile(`${d}/frame1.tif`, new Uint8Array([0x49, 0x49, 42, 0, 8, 0]));
    await rejects(load(d), /corrupt\/frame1\.tif: truncated/);
    d = await fresh("nogt");
    await Deno.remove(`${d}/HDRImg.hdr`);
    strictEqual((await load(d)).gt, null);
    const info = await findScenes(d);
    assertThrows(
      () => new CropLoader(info, { batch: 2 }),
      /nogt: has no ground-truth HDR, needed for training/,
    );
    await rejects(findScenes(`${root}/nowhere`), /nowhere: no such folder/);
  });
});

Deno.test("crops: positions, batch shapes, linearisation, determinism, augmentation", async () => {
  assertEquals(cropPositions(260, 130, 128, 64).length, 3); // x ∈ {0,64,128}, y ∈ {0}
  assertEquals(cropPositions(100, 300, 128, 64).length, 0);
  await withDir(async (root) => {
    await makeSet(root, 3);
    const scenes = await findScenes(root, "train");
    const plain = new CropLoader(scenes, {
      size: 64,
      stride: 32,
      batch: 5,
      seed: 1,
      augment: false,
      cacheScenes: 1,
    });
    const perScene = cropPositions(W, H, 64, 32).length;
    const batches: Batch[] = [];
    for await (const b of plain.epoch(0)) batches.push(b);
    const ids = batches.flatMap((b) => b.ids);
    strictEqual(ids.length, 2 * perScene);
    strictEqual(new Set(ids).size, ids.length);
    assertEquals(batches[0].x[0].shape, [5, 6, 64, 64]);
    assertEquals(batches[0].gt.shape, [5, 3, 64, 64]);
    // Channels 3–5 are what bracketInputs makes of channels 0–2: H = L^2.2 / 2^EV, EVs 0,2,4.
    const l = [0, 1, 2].map((k) => T.slice(batches[0].x[k], 1, 0, 3));
    const want = bracketInputs(l, [0, 2, 4]);
    for (let k = 0; k < 3; k++) {
      // The loader's TypeScript pow and the backend's (oneDNN) agree to float rounding.
      assertClose(batches[0].x[k].toArray(), want[k].toArray(), 1e-6, `frame ${k + 1}`);
    }
    // Same seed and epoch → same order; another epoch → another order.
    const again = [];
    for await (const b of plain.epoch(0)) again.push(...b.ids);
    assertEquals(again, ids);
    const next = [];
    for await (const b of plain.epoch(1)) next.push(...b.ids);
    assert(next.join() !== ids.join());
    assert(ids.every((id) => id.endsWith("/0")), "augment: false leaves crops as they are");
    // Augmented crops use all 8 flips and rotations.
    const aug = new CropLoader(scenes, { size: 64, stride: 16, batch: 64, seed: 2 });
    const ts = new Set<string>();
    for await (const b of aug.epoch(0)) b.ids.forEach((id) => ts.add(id.split("/").pop()!));
    strictEqual(ts.size, 8);
  });
});

Deno.test("loader: crops of all scenes shuffle together when they fit, in windows when not", async () => {
  await withDir(async (root) => {
    for (let i = 0; i < 6; i++) {
      await writeScene(
        `${root}/Training/${i}`,
        synthesizeScene({ width: 64, height: 48, seed: i }),
      );
    }
    const scenes = await findScenes(root, "train");
    const o = { size: 32, stride: 16, batch: 6, seed: 3, augment: false };
    const sceneOf = (id: string) => id.split("@")[0];
    const firstBatch = async (l: CropLoader) => {
      for await (const b of l.epoch(0)) return new Set(b.ids.map(sceneOf));
      throw new Error("no batch");
    };
    // 0 = by the memory budget; all six fit, so the first batch draws from several of them.
    const all = new CropLoader(scenes, { ...o, cacheScenes: 0 });
    strictEqual(await all.window(), 6);
    assert((await firstBatch(all)).size >= 3);
    // A window of one scene: a batch holds crops of at most two (one window and the rest of the last).
    const one = new CropLoader(scenes, { ...o, cacheScenes: 1 });
    assert((await firstBatch(one)).size <= 2);
    // A budget of two scenes' worth of memory gives windows of two.
    const bytes = 4 * 64 * 48 * 3 * 4;
    strictEqual(await new CropLoader(scenes, { ...o, cacheBytes: 2.5 * bytes }).window(), 2);
    // The epoch is the same crops, whatever the window.
    const ids = async (l: CropLoader) => {
      const out: string[] = [];
      for await (const b of l.epoch(1)) out.push(...b.ids);
      return out.sort();
    };
    assertEquals(await ids(all), await ids(one));
  });
});

Deno.test("deno task synth writes a set the loader reads", async () => {
  await withDir(async (dir) => {
    const out = await runTool("synth", [
      "--out",
      dir,
      "--scenes",
      "3",
      "--size",
      "64x48",
      "--seed",
      "2",
      "--bits",
      "8",
      "--json",
    ]);
    strictEqual(out.code, 0, out.err);
    const summary = JSON.parse(out.out);
    strictEqual(summary.scenes.length, 3);
    const scenes = await findScenes(dir);
    assertEquals(scenes.map((s) => s.split), ["test", "train", "train"]);
    const scene = await loadScene(scenes[0]);
    strictEqual(scene.ldrs[0].bitDepth, 8);
    const bad = await runTool("synth", ["--out", dir, "--size", "64by48"]);
    strictEqual(bad.code, 1);
    assertEquals(
      bad.err.trim(),
      "synth: --size must be WxH, got 64by48",
    );
  });
});

Deno.test("deno task synth --curve srgb --black: the same scenes through a camera that loses its shadows", async () => {
  await withDir(async (dir) => {
    const make = (sub: string, extra: string[]) =>
      runTool("synth", ["--out", `${dir}/${sub}`, "--scenes", "1", "--size", "64x48", ...extra]);
    strictEqual((await make("a", [])).code, 0);
    const r = await make("b", ["--curve", "srgb", "--black", "0.02,0.02", "--json"]);
    strictEqual(r.code, 0, r.err);
    assertEquals([JSON.parse(r.out).curve, JSON.parse(r.out).black], ["srgb", [0.02, 0.02]]);
    const [a, b] = await Promise.all(
      ["a", "b"].map(async (s) => loadScene((await findScenes(`${dir}/${s}`))[0])),
    );
    assertEquals(a.gt!.data, b.gt!.data, "the same ground truth");
    const zeros = (d: Float32Array) => d.filter((v) => v === 0).length;
    // Light below 2% of white is black in b's reference: far more zeros than a's.
    assert(zeros(b.ldrs[1].data) > zeros(a.ldrs[1].data) + 100, "b's lost shadows");
    const bad = await make("c", ["--black", "0.01"]);
    strictEqual(bad.code, 1);
    assertEquals(bad.err.trim(), "synth: --black must be LO,HI with 0 < LO ≤ HI < 0.5, got 0.01");
  });
});

Deno.test("deno task synth --noise off: the same scenes, the reference frame exactly the ground truth's codes", async () => {
  await withDir(async (dir) => {
    const make = (sub: string, extra: string[]) =>
      runTool("synth", ["--out", `${dir}/${sub}`, "--scenes", "1", "--size", "64x48", ...extra]);
    strictEqual((await make("a", [])).code, 0);
    const r = await make("b", ["--noise", "off", "--json"]);
    strictEqual(r.code, 0, r.err);
    strictEqual(JSON.parse(r.out).noise, false);
    const [a, b] = await Promise.all(
      ["a", "b"].map(async (s) => loadScene((await findScenes(`${dir}/${s}`))[0])),
    );
    assertEquals(a.gt!.data, b.gt!.data, "the same ground truth");
    // Where the reference is well exposed its radiance is the ground truth's without noise, to
    // the .hdr file's step (1/128 of the pixel's largest channel; measured 0.0078, noisy 1.06).
    const worst = (s: typeof a) => {
      const ref = s.ldrs[1].data, gt = s.gt!.data, k = 2 ** s.evs[1];
      let e = 0;
      for (let p = 0; p < ref.length; p += 3) {
        const px = [0, 1, 2].map((c) => ref[p + c]);
        if (px.some((v) => v < 0.08 || v > 0.85)) continue;
        const top = Math.max(gt[p], gt[p + 1], gt[p + 2]);
        for (let c = 0; c < 3; c++) e = Math.max(e, Math.abs(px[c] ** 2.2 / k - gt[p + c]) / top);
      }
      return e;
    };
    const [noisy, clean] = [worst(a), worst(b)];
    assert(clean < 0.01 && noisy > 0.1, `largest error: noise on ${noisy}, off ${clean}`);
    const bad = await make("c", ["--noise", "no"]);
    strictEqual(bad.code, 1);
    assertEquals(bad.err.trim(), "synth: --noise must be on or off");
  });
});
