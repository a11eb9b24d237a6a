// The reference passed through where it is cleaner than the network's output: a clean 16-bit
// reference replaces a blurred output; a noisy one (white noise, or noise spread over
// neighbours) leaves a clean output alone and meets an equally noisy one halfway; 8-bit content
// changes nothing; clipped codes and the darkest band keep the network's values, codes near the
// clip part of them; NaNs stay where they are.

import { GAMMA } from "@lfdiff/imaging/exposure.ts";
import { passReference } from "@lfdiff/imaging/reference_pass.ts";
import type { Image } from "@lfdiff/io/image.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { rgbImage } from "./rgb_image.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

const W = 160, H = 120, EV = 2;
const image = (f: (x: number, y: number, c: number) => number) => rgbImage(W, H, f);
/** The reference's code for radiance v (shortest-exposure units, γ 2.2, EV 2). */
const code = (v: number) => Math.min(Math.pow(v * 2 ** EV, 1 / GAMMA), 1);
/**
 * Textured radiance over the codes 0.1–0.8: a slow ramp under fine detail, and a bright dot
 * every 12 pixels each way (texture that is not noise).
 */
const truth = image((x, y, c) => {
  const z = 0.1 + 0.5 * x / W + 0.04 * Math.sin(x / 4 + c) * Math.cos(y / 5) +
    (x % 12 === 0 && y % 12 === 0 ? 0.15 : 0);
  return Math.pow(z, GAMMA) / 2 ** EV;
});
/** The mean of a W × H × 3 array over the 3×3 pixels around (x, y), borders clamped. */
const box3 = (a: ArrayLike<number>, x: number, y: number, c: number) => {
  let s = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const u = Math.min(Math.max(x + dx, 0), W - 1), v = Math.min(Math.max(y + dy, 0), H - 1);
      s += a[(v * W + u) * 3 + c];
    }
  }
  return s / 9;
};
/** The network's output: the truth blurred (3×3 box) and 2% dark, as a small network loses detail. */
const blurred = image((x, y, c) => 0.98 * box3(truth.data, x, y, c));
/** The truth's codes plus `noise` (codes), on the 16-bit grid. */
const noisyRef = (noise: (i: number, x: number, y: number, c: number) => number) =>
  image((x, y, c) => {
    const i = (y * W + x) * 3 + c;
    return Math.round((code(truth.data[i]) + noise(i, x, y, c)) * 65535) / 65535;
  });
/** Mean squared error in the reference's codes over the interior. */
const mse = (a: Image) => {
  let s = 0, n = 0;
  for (let y = 2; y < H - 2; y++) {
    for (let x = 2; x < W - 2; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * W + x) * 3 + c;
        s += (code(a.data[i]) - code(truth.data[i])) ** 2;
        n++;
      }
    }
  }
  return s / n;
};

Deno.test("a clean 16-bit reference replaces an output that lost detail", () => {
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const p = passReference(blurred, ref, EV);
  assert(p.applied);
  p.weight.forEach((w, c) => assert(w > 0.9, `weight ${c}: ${w}`));
  const before = mse(blurred), after = mse(p.hdr);
  assert(after < before / 20, `error ${before} -> ${after}`);
});

Deno.test("texture is not taken for noise: fine detail still lets a tone error be mended", () => {
  // The output keeps every dot and edge but is 3% dark; Immerkær's mean over all residuals
  // would read the dots and the ripple as noise and pass nothing.
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const net = image((x, y, c) => 0.97 * truth.data[(y * W + x) * 3 + c]);
  const p = passReference(net, ref, EV);
  p.weight.forEach((w, c) => assert(w > 0.9, `weight ${c}: ${w}`));
  assert(mse(p.hdr) < mse(net) / 50, `error ${mse(net)} -> ${mse(p.hdr)}`);
});

Deno.test("a noisy reference leaves an output cleaner than it alone", () => {
  // Noise of σ 0.01 in codes (16-bit content); the output is the truth, 0.5% dark.
  const noise = new Rng(5).normal(W * H * 3, 0, 0.01);
  const ref = noisyRef((i) => noise[i]);
  const net = image((x, y, c) => 0.995 * truth.data[(y * W + x) * 3 + c]);
  const p = passReference(net, ref, EV);
  assert(p.applied);
  p.weight.forEach((w, c) => assert(w < 0.1, `weight ${c}: ${w}`));
  assert(mse(p.hdr) < 1.2 * mse(net), `error ${mse(net)} -> ${mse(p.hdr)}`);
  // Passed whole, the reference would have brought its noise.
  const whole = { ...net, data: ref.data.map((v) => Math.pow(v, GAMMA) / 2 ** EV) };
  assert(mse(whole) > 20 * mse(net), `the reference's own error ${mse(whole)}`);
});

Deno.test("an output as noisy as the reference meets it halfway: the noise is read at its size", () => {
  // Reference and output each off by independent noise of σ 0.01 in codes over mid-tones: the
  // least error is their mean, w = 1/2. A noise estimate off by 30% either way gives w outside
  // 0.4–0.6.
  const [a, b] = [new Rng(7).normal(W * H * 3, 0, 0.01), new Rng(8).normal(W * H * 3, 0, 0.01)];
  const mid = (x: number, y: number, c: number) =>
    0.3 + 0.3 * x / W + 0.02 * Math.sin(x / 4 + c) * Math.cos(y / 5);
  const ref = image((x, y, c) =>
    Math.round((mid(x, y, c) + a[(y * W + x) * 3 + c]) * 65535) / 65535
  );
  const net = image((x, y, c) => Math.pow(mid(x, y, c) + b[(y * W + x) * 3 + c], GAMMA) / 2 ** EV);
  const p = passReference(net, ref, EV);
  p.weight.forEach((w, c) => assert(w > 0.4 && w < 0.6, `weight ${c}: ${w}`));
});

Deno.test("noise spread over neighbours, as a demosaic leaves it, is still seen", () => {
  // White noise averaged over 3×3 pixels, σ 0.01 in codes: its Laplacian on neighbours one
  // pixel apart reads far less of it.
  const white = new Rng(6).normal(W * H * 3, 0, 0.03);
  const ref = noisyRef((_, x, y, c) => box3(white, x, y, c));
  const net = image((x, y, c) => 0.995 * truth.data[(y * W + x) * 3 + c]);
  const p = passReference(net, ref, EV);
  p.weight.forEach((w, c) => assert(w < 0.2, `weight ${c}: ${w}`));
  assert(mse(p.hdr) < 2 * mse(net), `error ${mse(net)} -> ${mse(p.hdr)}`);
});

Deno.test("8-bit content is not passed through: its noise cannot be measured from one frame", () => {
  const ref = image((x, y, c) => Math.round(code(truth.data[(y * W + x) * 3 + c]) * 255) / 255);
  const p = passReference(blurred, ref, EV);
  assertEquals([p.applied, p.weight], [false, [0, 0, 0]]);
  assert(p.hdr.data === blurred.data, "the output as it was");
});

Deno.test("the darkest band and clipped codes keep the network's values; near the clip, part", () => {
  // Columns, left to right: codes 0.006 (band 0), a ramp over 0.015–0.03 (band 1, which is
  // passed), the truth's mid-tones, codes 0.85 (half faded), clipped.
  const codeAt = (x: number, y: number, c: number) =>
    x < 32
      ? 0.006
      : x < 64
      ? 0.015 + 0.015 * (x - 32) / 32
      : x < 112
      ? code(truth.data[(y * W + x) * 3 + c])
      : x < 136
      ? 0.85
      : 1;
  const ref = image(codeAt);
  const radiance = (x: number, y: number, c: number) => Math.pow(codeAt(x, y, c), GAMMA) / 2 ** EV;
  const net = image((x, y, c) => 0.9 * radiance(x, y, c));
  const p = passReference(net, ref, EV);
  const at = (img: typeof net, x: number) => img.data[(H / 2 * W + x) * 3 + 1];
  assertEquals(at(p.hdr, 16), at(net, 16), "band 0");
  assertEquals(at(p.hdr, W - 5), at(net, W - 5), "clipped");
  const passed = (x: number) => (at(p.hdr, x) - at(net, x)) / (radiance(x, H / 2, 1) - at(net, x));
  assert(passed(48) > 0.9, `band 1 passed ${passed(48)}`);
  assert(passed(88) > 0.9, `mid-tone passed ${passed(88)}`);
  // Code 0.85 is halfway through the fade from 0.8 to 0.9.
  assert(passed(124) > 0.35 && passed(124) < 0.65, `near the clip passed ${passed(124)}`);
});

Deno.test("a NaN stays where it is and spoils nothing else", () => {
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  ref.data[(10 * W + 10) * 3] = NaN;
  const net = image((x, y, c) => blurred.data[(y * W + x) * 3 + c]);
  net.data[(20 * W + 20) * 3 + 1] = NaN;
  net.data[(30 * W + 30) * 3 + 2] = Infinity;
  const p = passReference(net, ref, EV), clean = passReference(blurred, ref, EV);
  assert(Number.isNaN(p.hdr.data[(20 * W + 20) * 3 + 1]), "the NaN kept");
  assertEquals(p.hdr.data[(30 * W + 30) * 3 + 2], Infinity, "the infinity kept");
  p.weight.forEach((w, c) => assert(Math.abs(w - clean.weight[c]) < 0.01, `weight ${c}: ${w}`));
});

Deno.test("a reference of another size is refused in one line", () => {
  const small = { ...blurred, width: W / 2, data: blurred.data.slice(0, W * H * 3 / 2) };
  assertThrows(() => passReference(blurred, small, EV), /^[^\n]*the reference 80x120$/);
});
