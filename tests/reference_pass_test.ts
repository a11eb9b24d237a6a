// The reference passed through where it is cleaner than the network's output: a clean 16-bit
// reference replaces a blurred output, a noisy one leaves a clean output alone (white noise or
// noise spread over neighbours), 8-bit content
// changes nothing, and clipped codes and the darkest band keep the network's values.

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
/** The network's output: the truth blurred (3×3 box) and 2% dark, as a small network loses detail. */
const blurred = image((x, y, c) => {
  let s = 0, k = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const u = Math.min(Math.max(x + dx, 0), W - 1), v = Math.min(Math.max(y + dy, 0), H - 1);
      s += truth.data[(v * W + u) * 3 + c];
      k++;
    }
  }
  return 0.98 * s / k;
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
  // The output keeps every dot and edge but is 3% dark; the dots make the reference's
  // Laplacian large around a quarter of its pixels (Immerkær's mean over all would read them
  // as noise and pass nothing).
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const net = image((x, y, c) => 0.97 * truth.data[(y * W + x) * 3 + c]);
  const p = passReference(net, ref, EV);
  p.weight.forEach((w, c) => assert(w > 0.9, `weight ${c}: ${w}`));
  assert(mse(p.hdr) < mse(net) / 50, `error ${mse(net)} -> ${mse(p.hdr)}`);
});

Deno.test("a noisy reference leaves an output cleaner than it alone", () => {
  // Noise of σ 0.01 in codes (16-bit content); the output is the truth, 0.5% dark.
  const noise = new Rng(5).normal(W * H * 3, 0, 0.01);
  const ref = image((x, y, c) => {
    const i = (y * W + x) * 3 + c;
    return Math.round(code(truth.data[i]) * 65535 + noise[i] * 65535) / 65535;
  });
  const net = image((x, y, c) => 0.995 * truth.data[(y * W + x) * 3 + c]);
  const p = passReference(net, ref, EV);
  assert(p.applied);
  p.weight.forEach((w, c) => assert(w < 0.1, `weight ${c}: ${w}`));
  assert(mse(p.hdr) < 1.2 * mse(net), `error ${mse(net)} -> ${mse(p.hdr)}`);
  // Passed whole, the reference would have brought its noise.
  const whole = { ...net, data: ref.data.map((v) => Math.pow(v, GAMMA) / 2 ** EV) };
  assert(mse(whole) > 20 * mse(net), `the reference's own error ${mse(whole)}`);
});

Deno.test("noise spread over neighbours, as a demosaic leaves it, is still seen", () => {
  // White noise averaged over 3×3 pixels, σ 0.01 in codes: its Laplacian on neighbours one
  // pixel apart reads far less of it.
  const white = new Rng(6).normal(W * H * 3, 0, 0.03);
  const spread = (x: number, y: number, c: number) => {
    let s = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const u = Math.min(Math.max(x + dx, 0), W - 1), v = Math.min(Math.max(y + dy, 0), H - 1);
        s += white[(v * W + u) * 3 + c];
      }
    }
    return s / 9;
  };
  const ref = image((x, y, c) =>
    Math.round((code(truth.data[(y * W + x) * 3 + c]) + spread(x, y, c)) * 65535) / 65535
  );
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

Deno.test("clipped codes and the darkest band keep the network's values", () => {
  // Left third: codes near black (0.004); middle: clean mid-tones; right third: clipped.
  const radiance = (x: number, y: number, c: number) =>
    x < W / 3 ? Math.pow(0.004, GAMMA) / 4 : x > (2 * W) / 3 ? 1 : truth.data[(y * W + x) * 3 + c];
  const ref = image((x, y, c) => code(radiance(x, y, c)));
  const net = image((x, y, c) => 0.9 * radiance(x, y, c));
  const p = passReference(net, ref, EV);
  const at = (x: number) => p.hdr.data[(H / 2 * W + x) * 3 + 1];
  assertEquals(at(5), net.data[(H / 2 * W + 5) * 3 + 1], "near black");
  assertEquals(at(W - 5), net.data[(H / 2 * W + W - 5) * 3 + 1], "clipped");
  const mid = W / 2, want = truth.data[(H / 2 * W + mid) * 3 + 1];
  assert(Math.abs(at(mid) / want - 1) < 0.01, `mid-tone ${at(mid)} against ${want}`);
});

Deno.test("a reference of another size is refused in one line", () => {
  const small = { ...blurred, width: W / 2, data: blurred.data.slice(0, W * H * 3 / 2) };
  assertThrows(() => passReference(blurred, small, EV), /^[^\n]*the reference 80x120$/);
});
