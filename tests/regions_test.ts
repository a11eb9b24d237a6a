// The region breakdown and the no-ground-truth checks: masks from the reference frame,
// motion found whatever the camera's response, and scores that see a tonal bias and a cast.

import { synthesizeScene } from "@lfdiff/datasets/synth.ts";
import { type Image, newImage } from "@lfdiff/io/image.ts";
import { consistency } from "@lfdiff/imaging/consistency.ts";
import { ldrToLinear } from "@lfdiff/imaging/exposure.ts";
import { motionMask, regionMasks, regionScore, wellExposed } from "@lfdiff/imaging/regions.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";

const fill = (w: number, h: number, f: (x: number, y: number, c: number) => number): Image => {
  const img = newImage(w, h, 3, 16);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) img.data[(y * w + x) * 3 + c] = f(x, y, c);
    }
  }
  return img;
};

Deno.test("exposure regions partition the image by the reference's values", () => {
  const ref = fill(3, 1, (x) => [0.5, 0.9, 0.02][x]);
  const m = regionMasks([ref, ref, ref], 1);
  assertEquals([...m["well-exposed"]], [1, 0, 0]);
  assertEquals([...m.bright], [0, 1, 0]);
  assertEquals([...m.dark], [0, 0, 1]);
  // one channel out of range is enough to leave the well-exposed region
  assertEquals([...wellExposed(fill(1, 1, (_, __, c) => (c === 2 ? 0.05 : 0.5)))], [0]);
});

Deno.test("motion is found under any camera response, and static content is not", () => {
  // A ramp seen through an S-shaped response one stop apart, with a textured patch that
  // moves (a flat one would fill its own bins of the comparametric fit and hide).
  const w = 96, h = 64;
  const radiance = (x: number, y: number, c: number) =>
    (0.05 + 0.75 * (x / w)) * (0.97 + 0.03 * (y / h)) * (1 - 0.05 * c);
  const response = (v: number) => {
    const g = Math.pow(Math.min(v, 1), 1 / 1.7);
    return g - (0.2 * Math.sin(2 * Math.PI * g)) / (2 * Math.PI);
  };
  const patch = (x: number, y: number, at: number) => x >= at && x < at + 12 && y >= 20 && y < 32;
  const frame = (k: number, at: number) =>
    fill(
      w,
      h,
      (x, y, c) =>
        response((patch(x, y, at) ? 0.45 + 0.05 * ((3 * x + 7 * y) % 6) : radiance(x, y, c)) * k),
    );
  const ldrs = [frame(0.5, 10), frame(1, 40), frame(2, 70)];
  const m = motionMask(ldrs, 1);
  let inPatch = 0, outside = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const near = [10, 40, 70].some((a) => x >= a - 4 && x < a + 16) && y >= 16 && y < 36;
      if (patch(x, y, 40) && m[y * w + x]) inPatch++;
      if (!near && m[y * w + x]) outside++;
    }
  }
  assert(inPatch > 0.8 * 144, `the reference's patch is found: ${inPatch} of 144`);
  strictEqual(outside, 0, "static pixels flagged as moving");
});

Deno.test("region scores report PSNR-μ, the tonal bias and the colour cast", () => {
  const target = fill(8, 8, () => 0.2);
  const mask = new Uint8Array(64).fill(1);
  const same = regionScore(target, target, mask)!;
  assertEquals([same.psnrMu, same.bias, same.cast], [Infinity, 1, 0]);
  const darker = regionScore(
    fill(8, 8, (_, __, c) => 0.2 * [0.9, 0.9, 0.9 * 1.1][c]),
    target,
    mask,
  )!;
  assert(Math.abs(darker.ratio[0] - 0.9) < 1e-6 && Math.abs(darker.ratio[2] - 0.99) < 1e-6);
  assert(Math.abs(darker.bias - 0.9 * Math.cbrt(1.1)) < 1e-6, `bias ${darker.bias}`);
  assert(darker.cast > 0.06 && darker.cast < 0.07, `cast ${darker.cast}`);
  strictEqual(regionScore(target, target, new Uint8Array(64)), null);
});

Deno.test("consistency: the reference's own radiance scores perfectly where it is well exposed", () => {
  const s = synthesizeScene({ width: 64, height: 48, seed: 3, camera: { gamma: 2.2, sCurve: 0 } });
  const out = ldrToLinear(s.ldrs[1], s.evs[1]);
  const c = consistency(out, s.ldrs, s.evs);
  strictEqual(c.reference!.psnrMu, Infinity);
  assert(Math.abs(c.reference!.bias - 1) < 1e-6);
  // A result 10% too dark is seen as such.
  const dark = consistency({ ...out, data: out.data.map((v) => 0.9 * v) }, s.ldrs, s.evs);
  assert(Math.abs(dark.reference!.bias - 0.9) < 1e-6 && dark.reference!.psnrMu < 40);
  // In a still scene the ground truth agrees with the short frame where the reference is bright.
  const still = synthesizeScene({
    width: 64,
    height: 48,
    seed: 3,
    objects: 0,
    shake: 0,
    key: 0.3,
    camera: { gamma: 2.2, sCurve: 0 },
  });
  const h = consistency(still.gt, still.ldrs, still.evs).highlight!;
  assert(h.fraction > 0.01 && h.psnrMu > 35, `highlight ${h.fraction} ${h.psnrMu}`);
  // Pixels left out (an aligned frame's uncovered border) count in no check: a result wrong
  // only there scores as if right.
  const valid = new Uint8Array(64 * 48).map((_, i) => (i % 64 < 56 ? 1 : 0));
  const wrong = { ...still.gt, data: still.gt.data.map((v, i) => (i / 3) % 64 < 56 ? v : 4 * v) };
  const all = consistency(wrong, still.ldrs, still.evs);
  const kept = consistency(wrong, still.ldrs, still.evs, valid);
  const right = consistency(still.gt, still.ldrs, still.evs, valid);
  for (const k of ["reference", "highlight", "fill"] as const) {
    strictEqual(kept[k]!.psnrMu, right[k]!.psnrMu, k);
    assert(all[k]!.psnrMu < kept[k]!.psnrMu, `${k}: ${all[k]!.psnrMu} vs ${kept[k]!.psnrMu}`);
  }
});
