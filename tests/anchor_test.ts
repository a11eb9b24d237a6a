// The result held to the frames' tone and colour: a smooth per-channel error of the network
// is taken out where the reference is well exposed, highlights beyond what the reference
// records keep their values, and a reference with no well-exposed pixels changes nothing;
// where the reference is dark and has lost light, the long frame's light comes back, but not
// from something that moved, and the detail stays the network's.

import { anchorShadowsToLong, anchorToReference } from "@lfdiff/imaging/anchor.ts";
import { GAMMA } from "@lfdiff/imaging/exposure.ts";
import { bracketOptions } from "../tools/bracket_flags.ts";
import type { Image } from "@lfdiff/io/image.ts";
import { rgbImage } from "./rgb_image.ts";
import { assert, assertEquals, assertRejectsOneLine } from "./assert.ts";

const W = 96, H = 64, EV = 2;
const image = (f: (x: number, y: number, c: number) => number) => rgbImage(W, H, f);
/** Radiance in shortest-exposure units, and the reference's codes for it (γ 2.2, EV 2). */
const code = (v: number) => Math.min(Math.pow(v * 2 ** EV, 1 / GAMMA), 1);
const relErr = (a: Image, b: Image, i: number) => Math.abs(a.data[i] / b.data[i] - 1);

Deno.test("a smooth tonal and colour error of the network is taken out", () => {
  // Textured mid-tones, and a network 8% dark in red, 3% bright in blue, 5% darker to the right.
  const truth = image((x, y, c) =>
    0.04 + 0.1 * (0.5 + 0.5 * Math.sin(x / 3 + c) * Math.cos(y / 4)) * (1 + 0.2 * c)
  );
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const off = [0.92, 1, 1.03];
  const net = image((x, y, c) => truth.data[(y * W + x) * 3 + c] * off[c] * (1 - 0.05 * x / W));
  const a = anchorToReference(net, ref, EV);
  assert(a.applied);
  assert(a.share > 0.9, `share ${a.share}`);
  // The whole image's gains undo the offsets (and the mean of the ramp).
  a.gain.forEach((g, c) => assert(Math.abs(g * off[c] * 0.975 - 1) < 0.01, `gain ${c}: ${g}`));
  let worstBefore = 0, worstAfter = 0;
  for (let i = 0; i < W * H * 3; i++) {
    worstBefore = Math.max(worstBefore, relErr(net, truth, i));
    worstAfter = Math.max(worstAfter, relErr(a.hdr, truth, i));
  }
  assert(worstBefore > 0.09, `before ${worstBefore}`);
  assert(worstAfter < 0.012, `after ${worstAfter}`); // the ramp, within a cell's blur
});

Deno.test("highlights above what the reference records keep the network's values", () => {
  // Left: mid-tones 10% dark in the output; right: a lamp 8x above the reference's clip.
  const lamp = 8 * Math.pow(0.85, GAMMA) / 2 ** EV;
  const truth = image((x) => (x < W / 2 ? 0.05 : lamp));
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const net = image((x, y, c) => truth.data[(y * W + x) * 3 + c] * (x < W / 2 ? 0.9 : 1));
  const a = anchorToReference(net, ref, EV);
  const at = (x: number) => a.hdr.data[(10 * W + x) * 3];
  assert(Math.abs(at(5) / 0.05 - 1) < 0.01, `mid-tone ${at(5)}`);
  assertEquals(at(W - 5), net.data[(10 * W + W - 5) * 3], "the lamp untouched");
});

Deno.test("the reference's deep shadows do not pull the gain: a JPEG has lost light there", () => {
  // Left half: mid-tones the network has right. Right half: shadows the reference reads at
  // codes 0.09 and 0.11, half the light the network (from the long frame) rightly gives.
  const lo = (z: number) => Math.pow(z, GAMMA) / 2 ** EV;
  const truth = image((x, y) => (x < W / 2 ? 0.05 : lo(0.125 + 0.03 * ((x + y) % 2))));
  const ref = image((x, y, c) => {
    const v = truth.data[(y * W + x) * 3 + c];
    return code(x < W / 2 ? v : v / 2);
  });
  const a = anchorToReference(truth, ref, EV);
  assert(ref.data[(10 * W + W - 5) * 3] > 0.08, "the shadows are within the regions' well-exposed");
  a.gain.forEach((g, c) => assert(Math.abs(g - 1) < 1e-3, `gain ${c}: ${g}`));
  const at = (x: number) => a.hdr.data[(10 * W + x) * 3] / truth.data[(10 * W + x) * 3];
  assert(Math.abs(at(W - 5) - 1) < 1e-3, `shadow scaled by ${at(W - 5)}`);
});

Deno.test("a reference with no well-exposed pixels changes nothing", () => {
  const ref = image(() => 1); // clipped everywhere
  const net = image((x) => 0.5 + x / W);
  const a = anchorToReference(net, ref, EV);
  assertEquals([a.applied, a.gain], [false, [1, 1, 1]]);
  assertEquals(a.hdr.data, net.data);
});

/** Shadows 0.7–1.3× a level the reference codes at 0.03 (the long frame, EV 6, at 0.1). */
const shadow = (x: number, y: number) =>
  Math.pow(0.03, GAMMA) / 2 ** EV * (1 + 0.3 * Math.sin(x / 2) * Math.cos(y / 3));
const LONG = EV + 4;
/** The long frame's codes for radiance v. */
const longCode = (v: number) => Math.min(Math.pow(v * 2 ** LONG, 1 / GAMMA), 1);

Deno.test("shadows the reference has lost light in are held to the long frame", () => {
  // Left: mid-tones. Right: shadows whose blue a JPEG reference reads at a third of its
  // light, and a network that followed it.
  const mid = Math.pow(0.2, GAMMA) / 2 ** EV; // the long frame records it too, at 0.71
  const truth = image((x, y) => (x < W / 2 ? mid : shadow(x, y)));
  const lost = (x: number, c: number) => (x >= W / 2 && c === 2 ? 1 / 3 : 1);
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c] * lost(x, c)));
  const long = image((x, y, c) => longCode(truth.data[(y * W + x) * 3 + c]));
  const net = image((x, y, c) => truth.data[(y * W + x) * 3 + c] * lost(x, c));
  const a = anchorShadowsToLong(net, ref, long, [0, EV, LONG]);
  assert(a.applied && a.share > 0.4, `share ${a.share}`);
  let worst = 0;
  for (let y = 0; y < H; y++) {
    for (let x = W / 2 + 8; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, relErr(a.hdr, truth, (y * W + x) * 3 + c));
      }
    }
  }
  assert(worst < 0.03, `shadows off by up to ${worst}`); // the texture stays, at its light
  // Mid-tones are the reference's to hold, even where the shadows' gains blur into them.
  for (const x of [5, W / 2 - 8]) {
    const i = (10 * W + x) * 3;
    assertEquals(a.hdr.data.subarray(i, i + 3), net.data.subarray(i, i + 3), `mid-tones at ${x}`);
  }
});

Deno.test("a lit thing in the long frame over the reference's shadow is not light it lost", () => {
  // Shadows the network has right, and a patch where the long frame shows something bright
  // that has since moved: the reference records it dark, so it stays dark.
  const truth = image((x, y) => shadow(x, y));
  const ref = image((x, y, c) => code(truth.data[(y * W + x) * 3 + c]));
  const moved = (x: number, y: number) => x >= 60 && x < 84 && y >= 20 && y < 44;
  const long = image((x, y, c) => (moved(x, y) ? 0.6 : longCode(truth.data[(y * W + x) * 3 + c])));
  const a = anchorShadowsToLong(truth, ref, long, [0, EV, LONG]);
  assert(a.applied);
  let worst = 0;
  for (let i = 0; i < W * H * 3; i++) worst = Math.max(worst, relErr(a.hdr, truth, i));
  assert(worst < 1e-3, `the patch's surroundings moved by ${worst}`);
});

Deno.test("a two-frame bracket, or no shadows, leaves the shadows as they are", () => {
  // Two frames: the network's long frame repeats the reference, no longer than it. Read as
  // longer, this one (codes 0.1 over the reference's 0.03) would be evidence everywhere.
  const ref = image((x, y) => code(shadow(x, y)));
  const net = image((x, y) => shadow(x, y));
  const same = anchorShadowsToLong(net, ref, image(() => 0.1), [0, EV, EV]);
  assertEquals([same.applied, same.hdr.data], [false, net.data]);
  const bright = image(() => 0.5);
  const none = anchorShadowsToLong(net, bright, bright, [0, EV, LONG]);
  assertEquals([none.applied, none.hdr.data], [false, net.data]);
});

Deno.test("--anchor takes on or off", async () => {
  assertEquals((await bracketOptions({}, 3)).anchor, true);
  assertEquals((await bracketOptions({ anchor: "off" }, 3)).anchor, false);
  await assertRejectsOneLine(
    bracketOptions({ anchor: "maybe" }, 3),
    Error,
    /^--anchor must be on or off/,
  );
});
