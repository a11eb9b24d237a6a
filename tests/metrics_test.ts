// PSNR-L/-μ and SSIM-L/-μ against scikit-image and the OpenCV formulation HDR code uses
// (tests/make_metric_goldens.py), plus the tone curves.

import { hdrMetrics, psnr, ssim } from "@lfdiff/imaging/metrics.ts";
import { intoGamut, muLaw, previewImage, srgbEncode } from "@lfdiff/imaging/tonemap.ts";
import { type Image, newImage } from "@lfdiff/io/image.ts";
import { assert, assertEquals, assertThrows, strictEqual } from "./assert.ts";
import { fixture, get } from "./golden.ts";

const f = fixture("metrics");
const asImage = (t: { shape: number[]; data: Float32Array }): Image => ({
  height: t.shape[0],
  width: t.shape[1],
  channels: t.shape[2],
  data: t.data,
  bitDepth: 32,
});

for (const c of JSON.parse(f.metadata.cases)) {
  Deno.test(`metrics of ${c.name} match scikit-image and OpenCV`, () => {
    const gt = asImage(get(f, `${c.name}.gt`)), pred = asImage(get(f, `${c.name}.pred`));
    const m = hdrMetrics(pred, gt);
    const near = (a: number, b: number, tol: number, what: string) =>
      assert(Math.abs(a - b) <= tol, `${what}: ours ${a}, reference ${b}`);
    near(m.psnrL, c.psnrL, 1e-4, "PSNR-L");
    near(m.psnrMu, c.psnrMu, 1e-4, "PSNR-μ");
    near(m.ssimL, c.ssimL, 1e-6, "SSIM-L vs scikit-image");
    near(m.ssimMu, c.ssimMu, 1e-6, "SSIM-μ vs scikit-image");
    near(m.ssimL, c.ssimL_cv, 1e-6, "SSIM-L vs OpenCV");
    near(m.ssimMu, c.ssimMu_cv, 1e-6, "SSIM-μ vs OpenCV");
  });
}

Deno.test("metric edge cases: identical images, size checks", () => {
  const a = newImage(12, 12, 3, 32);
  a.data.fill(0.5);
  strictEqual(psnr(a.data, a.data), Infinity);
  assert(Math.abs(ssim(a, a) - 1) < 1e-12);
  assertThrows(
    () => ssim(newImage(10, 12, 1, 32), newImage(10, 12, 1, 32)),
    /SSIM needs at least 11x11 pixels/,
  );
  assertThrows(
    () => hdrMetrics(newImage(12, 12, 3, 32), newImage(12, 13, 3, 32)),
    /images differ: 12x12x3 vs 12x13x3/,
  );
});

Deno.test("tone curves: μ-law end points, sRGB, previews in range", () => {
  strictEqual(muLaw(0), 0);
  assert(Math.abs(muLaw(1) - 1) < 1e-12);
  assert(Math.abs(muLaw(0.01) - Math.log(51) / Math.log(5001)) < 1e-12);
  assert(Math.abs(srgbEncode(0.0031308) - 0.04045) < 1e-5);
  assert(Math.abs(srgbEncode(0.18) - 0.4613561) < 1e-6);
  const hdr = newImage(8, 4, 3, 32);
  for (let i = 0; i < hdr.data.length; i++) hdr.data[i] = 0.001 * Math.pow(10, (i % 24) / 4);
  const p = previewImage(hdr);
  assert(p.data.every((v) => v >= 0 && v <= 1));
  const brighter = previewImage(hdr, { exposure: 1 });
  assert(brighter.data.reduce((s, v) => s + v, 0) > p.data.reduce((s, v) => s + v, 0));
  // A colour beyond the display keeps its hue and luminance and gives up saturation, where
  // clipping each channel turned an orange lamp (R 1.32, G 0.93, B 0.69 of its luminance)
  // yellow-green.
  const lamp = [1.32 * 0.9, 0.93 * 0.9, 0.69 * 0.9];
  const y = 0.2126 * lamp[0] + 0.7152 * lamp[1] + 0.0722 * lamp[2];
  const shown = [...lamp];
  intoGamut(shown);
  assert(Math.abs(Math.max(...shown) - 1) < 1e-12, `max channel ${Math.max(...shown)}`);
  const hue = (c: number[]) => (c[1] - c[2]) / (c[0] - c[2]);
  assert(Math.abs(hue(shown) - hue(lamp)) < 1e-12, `hue ${hue(shown)} for ${hue(lamp)}`);
  const ys = 0.2126 * shown[0] + 0.7152 * shown[1] + 0.0722 * shown[2];
  assert(Math.abs(ys - y) < 1e-12 && shown[2] > lamp[2], `luminance ${ys} for ${y}`);
  const white = [3, 2, 1.5];
  intoGamut(white);
  assertEquals(white, [1, 1, 1]);
  const inside = [0.9, 0.5, 0.1];
  intoGamut(inside);
  assertEquals(inside, [0.9, 0.5, 0.1]);
});
