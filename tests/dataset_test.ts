// Datasets end to end: synthetic scenes written in the Kalantari layout are found, loaded
// and cropped; the reference frame agrees with the ground truth while the other frames show
// the motion (ghosting); Wu et al.'s layout loads too; broken scenes fail with one line.

import { findScenes, ldrToLinear, loadScene } from "@lfdiff/io/dataset.ts";
import { CropLoader, cropPositions } from "@lfdiff/io/loader.ts";
import { synthesizeScene, writeScene } from "@lfdiff/io/synth.ts";
import { encodeTiff } from "@lfdiff/io/tiff.ts";
import { newImage } from "@lfdiff/io/image.ts";
import { assert, assertEquals, assertThrows, strictEqual } from "./assert.ts";
import { runTool } from "./run_tool.ts";

const W = 160, H = 136;

async function makeSet(root: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const split = i === n - 1 ? "Test" : "Training";
    await writeScene(
      `${root}/${split}/${String(i + 1).padStart(3, "0")}`,
      synthesizeScene({ width: W, height: H, seed: 40 + i }),
    );
  }
}

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
    assertEquals(scene.evs, [-2, 0, 2]);
    assertEquals([scene.gt!.width, scene.gt!.height], [W, H]);
    const ref = mismatch(ldrToLinear(scene.ldrs[1], 0).data, scene.ldrs[1].data, scene.gt!.data);
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
    // The ground truth stops where the shortest exposure saturates (2^2 for EV −2) …
    assert(Math.max(...scene.gt!.data) <= 4 + 1e-6);
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

Deno.test("a user radiance map drives the synthesis, median luminance scaled to 0.18", () => {
  const map = newImage(30, 20, 3, 32);
  for (let i = 0; i < map.data.length; i++) map.data[i] = 5 * (1 + (i % 17)); // median far from 0.18
  const s = synthesizeScene({
    width: 60,
    height: 40,
    seed: 1,
    radiance: map,
    objects: 0,
    shake: 0,
  });
  const lum = [];
  for (let i = 0; i < s.gt.data.length; i += 3) {
    lum.push(0.2126 * s.gt.data[i] + 0.7152 * s.gt.data[i + 1] + 0.0722 * s.gt.data[i + 2]);
  }
  lum.sort((a, b) => a - b);
  assert(
    Math.abs(lum[lum.length >> 1] / 0.18 - 1) < 0.2,
    `median luminance ${lum[lum.length >> 1]}`,
  );
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
    const batches = [];
    for await (const b of plain.epoch(0)) batches.push(b);
    const ids = batches.flatMap((b) => b.ids);
    strictEqual(ids.length, 2 * perScene);
    strictEqual(new Set(ids).size, ids.length);
    assertEquals(batches[0].x[0].shape, [5, 6, 64, 64]);
    assertEquals(batches[0].gt.shape, [5, 3, 64, 64]);
    // Channels 3–5 are the linearised channels 0–2 of the same frame: H = L^2.2 / 2^EV.
    const x3 = batches[0].x[2].toArray();
    for (let i = 0; i < 64 * 64; i += 97) {
      const l = x3[i], h = x3[3 * 64 * 64 + i];
      assert(Math.abs(h - Math.pow(l, 2.2) / 4) < 1e-6);
    }
    // Same seed and epoch → same order; another epoch → another order.
    const again = [];
    for await (const b of plain.epoch(0)) again.push(...b.ids);
    assertEquals(again, ids);
    const next = [];
    for await (const b of plain.epoch(1)) next.push(...b.ids);
    assert(next.join() !== ids.join());
    // Augmented crops use all 8 flips and rotations.
    const aug = new CropLoader(scenes, { size: 64, stride: 16, batch: 64, seed: 2 });
    const ts = new Set<string>();
    for await (const b of aug.epoch(0)) b.ids.forEach((id) => ts.add(id.split("/").pop()!));
    strictEqual(ts.size, 8);
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
