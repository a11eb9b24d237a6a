// Handheld alignment on real frames (tests/fixtures/align: three exposures of a CC0 bracket,
// registered to the middle one): known camera motions are put on a frame with a Lanczos-3
// resampler (a camera does not blur what it moves over) and must come back within 0.25 px at
// every point of a 5×5 grid spanning the frame; exposure differences are the bracket's own
// (2 and 3 stops) or a camera curve 4 stops darker; noise, a mover, borders, `auto`'s choice.

import {
  alignBracket,
  type AlignOptions,
  describeAlignment,
  parseAlignMode,
  plausibleHomography,
  warpImage,
} from "@lfdiff/imaging/align.ts";
import {
  apply,
  compose,
  type Homography,
  identity,
  invert,
  maxDisplacement,
  toCoarserLevel,
  toFinerLevel,
  translation,
} from "@lfdiff/imaging/homography.ts";
import { srgbEncode } from "@lfdiff/imaging/tonemap.ts";
import {
  applyCurve,
  transferByHistogram,
  transferByResponse,
} from "@lfdiff/imaging/tone_transfer.ts";
import { readImage } from "@lfdiff/io/codecs.ts";
import { type Image, newImage } from "@lfdiff/io/image.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert, assertThrows, strictEqual } from "./assert.ts";

const dir = new URL("./fixtures/align/", import.meta.url);
const [short, mid, long] = await Promise.all(
  ["unis_ev-2.jpg", "unis_ev0.jpg", "unis_ev2.jpg"].map((n) => readImage(new URL(n, dir).pathname)),
);
const { width: W, height: H } = mid;
const TOLERANCE = 0.25;

const COS3 = [0, 1, 2, 3, 4, 5].map((i) => Math.cos((Math.PI * i) / 3));
const SIN3 = [0, 1, 2, 3, 4, 5].map((i) => Math.sin((Math.PI * i) / 3));

/** Lanczos-3 weights of the six taps floor(p) − 2 … floor(p) + 3 around position p. */
function lanczosTaps(p: number, out: Float64Array): void {
  // For tap i at distance t = d − i: sin(πt) = (−1)^i sin(πd), and sin(πt/3) by the angle
  // difference, so three sines serve all six taps.
  const d = p - Math.floor(p) + 2, s = Math.sin(Math.PI * d);
  const s3 = Math.sin((Math.PI * d) / 3), c3 = Math.cos((Math.PI * d) / 3);
  let sum = 0;
  for (let i = 0; i < 6; i++) {
    const t = d - i;
    out[i] = Math.abs(t) < 1e-9
      ? 1
      : (3 * (i % 2 ? -s : s) * (s3 * COS3[i] - c3 * SIN3[i])) / (Math.PI * Math.PI * t * t);
    sum += out[i];
  }
  for (let i = 0; i < 6; i++) out[i] /= sum;
}

/** The frame a camera moved by `truth` records: out(truth·x) = img(x); black where unseen. */
function moveCamera(img: Image, truth: Homography): Image {
  const { width: w, height: h, channels: c } = img, out = newImage(w, h, c, img.bitDepth);
  const back = invert(truth), kx = new Float64Array(6), ky = new Float64Array(6);
  const cols = new Int32Array(6), rows = new Int32Array(6), sum = new Float64Array(c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [u, v] = apply(back, x, y);
      if (!(u >= 0 && v >= 0 && u <= w - 1 && v <= h - 1)) continue;
      lanczosTaps(u, kx);
      lanczosTaps(v, ky);
      for (let i = 0; i < 6; i++) {
        cols[i] = Math.min(Math.max(Math.floor(u) - 2 + i, 0), w - 1) * c;
        rows[i] = Math.min(Math.max(Math.floor(v) - 2 + i, 0), h - 1) * w * c;
      }
      sum.fill(0);
      for (let j = 0; j < 6; j++) {
        for (let i = 0; i < 6; i++) {
          const wt = kx[i] * ky[j], p = rows[j] + cols[i];
          for (let k = 0; k < c; k++) sum[k] += wt * img.data[p + k];
        }
      }
      for (let k = 0; k < c; k++) out.data[(y * w + x) * c + k] = Math.min(Math.max(sum[k], 0), 1);
    }
  }
  return out;
}

/** Unit Gaussian noise for a frame, drawn once (the RNG's normals are slow to draw). */
const noise = new Rng(1).normal(W * H * 3);

/**
 * `img` through `curve`, with Gaussian noise of σ `sigma` (drawn from `noise` from `offset`
 * on, so two frames get different noise), quantised to 8 bits.
 */
function reexpose(img: Image, curve: (v: number) => number, sigma: number, offset = 0): Image {
  const n = noise.length;
  const data = img.data.map((v, i) =>
    Math.round(Math.min(Math.max(curve(v) + sigma * noise[(i + offset) % n], 0), 1) * 255) / 255
  );
  return { ...img, data };
}

function rotation(degrees: number, cx: number, cy: number): Homography {
  const t = (degrees * Math.PI) / 180, c = Math.cos(t), s = Math.sin(t);
  return [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0, 0, 1];
}

const error = (found: Homography, truth: Homography) => maxDisplacement(found, truth, W, H);

/** Aligns [frame, reference] and returns the frame's result. */
function alignPair(frame: Image, reference: Image, o: AlignOptions = {}) {
  return alignBracket([frame, reference], 1, o).alignments[0];
}

/** Pixels a warp leaves uncovered, by more than a pixel: how far their fill is from `truth`. */
function fillError(out: Image, truth: Image, matrix: Homography) {
  let err = 0, level = 0, n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [u, v] = apply(matrix, x, y);
      if (u >= -1 && v >= -1 && u <= W && v <= H) continue;
      for (let k = 0; k < 3; k++) {
        err += Math.abs(out.data[(y * W + x) * 3 + k] - truth.data[(y * W + x) * 3 + k]);
        level += truth.data[(y * W + x) * 3 + k];
        n++;
      }
    }
  }
  return { err: err / n, level: level / n, share: n / (3 * W * H) };
}

Deno.test("a handheld shift of the short (2 stops) and long (3 stops) frames is recovered", () => {
  const truths = [translation(-21.4, 13.7), translation(17.3, -9.6)];
  const frames = [moveCamera(short, truths[0]), mid, moveCamera(long, truths[1])];
  const { frames: out, alignments } = alignBracket(frames, 1);
  for (const i of [0, 2]) {
    const a = alignments[i], e = error(a.matrix, truths[i / 2]);
    assert(e < TOLERANCE, `frame ${i + 1}: ${e.toFixed(3)} px off (${a.matrix})`);
    strictEqual(a.mode, "translation", `auto chose ${a.mode}`);
    assert(a.residualAfter < a.residualBefore / 3, JSON.stringify(a.residuals));
  }
  strictEqual(alignments[1].mode, "reference");

  // Borders the moved long frame no longer covers: the reference re-exposed to it, close to
  // what the long frame itself shows there, not black.
  const a = alignments[2], covered = (1 - 17.3 / W) * (1 - 9.6 / H);
  assert(Math.abs(a.uncovered - (1 - covered)) < 0.005, `${a.uncovered} vs ${1 - covered}`);
  const fill = fillError(out[2], long, a.matrix);
  assert(fill.share > 0.03, `${fill.share}`);
  assert(fill.err < fill.level / 10, `fill off by ${fill.err} on a level of ${fill.level}`);
});

Deno.test("a turn and a perspective are recovered from frames 4 stops darker (sRGB curve)", () => {
  const dark = reexpose(mid, (v) => srgbEncode(v ** 2.2 / 16), 0.003);
  const truths: Homography[] = [
    compose(translation(9.2, -14.6), rotation(1.5, 250, 310)),
    compose(translation(-6.3, 4.4), [1.004, 0.006, 0, -0.004, 0.997, 0, 4e-5, -3e-5, 1]),
  ];
  const frames = [moveCamera(dark, truths[0]), mid, moveCamera(dark, truths[1])];
  const { alignments } = alignBracket(frames, 1);
  for (const i of [0, 2]) {
    const a = alignments[i], e = error(a.matrix, truths[i / 2]);
    assert(e < TOLERANCE, `frame ${i + 1}: ${e.toFixed(3)} px off`);
    strictEqual(a.mode, "homography", `frame ${i + 1}: auto chose ${a.mode}`);
  }
});

Deno.test("a given response (γ 2.2 and the EVs) aligns as the histograms do", () => {
  const dark = reexpose(mid, (v) => v * 2 ** (-3 / 2.2), 0.003);
  const truth = compose(translation(5.5, 8.1), rotation(-1, 320, 240));
  const moved = moveCamera(dark, truth);
  const linearise = (_f: number, _c: number, v: number) => v ** 2.2;
  const a = alignPair(moved, mid, { mode: "homography", linearise, evs: [0, 3] });
  assert(error(a.matrix, truth) < TOLERANCE, `${error(a.matrix, truth).toFixed(3)} px off`);
  assertThrows(() => alignPair(moved, mid, { linearise }), /one EV per frame/);
});

Deno.test("a turn across the bracket's own exposures moves the estimate by the turn", () => {
  // The real frames differ by more than a shift (a refocus between shots changes the scale
  // by about 0.1%), so the turn is checked against the fit of the frames as they are.
  const turn = compose(translation(-8.7, 6.1), rotation(-1.2, 330, 220));
  const still = alignBracket([short, mid, long], 1, { mode: "homography" }).alignments;
  const moved = [moveCamera(short, turn), mid, moveCamera(long, turn)];
  const turned = alignBracket(moved, 1, { mode: "homography" }).alignments;
  for (const i of [0, 2]) {
    const e = error(turned[i].matrix, compose(turn, still[i].matrix));
    assert(e < TOLERANCE, `frame ${i + 1}: ${e.toFixed(3)} px off`);
  }
});

Deno.test("noise and a mover do not pull the estimate", () => {
  const truth = translation(12.6, 7.9), moved = moveCamera(short, truth);
  const noisy = reexpose(moved, (v) => v, 0.02, 12345);
  // A 140×110 block of wood pasted over the window (6% of the frame).
  const mover = { ...moved, data: moved.data.slice() };
  for (let y = 0; y < 110; y++) {
    for (let x = 0; x < 140; x++) {
      for (let k = 0; k < 3; k++) {
        mover.data[((200 + y) * W + 260 + x) * 3 + k] =
          short.data[((20 + y) * W + 470 + x) * 3 + k];
      }
    }
  }
  const { alignments } = alignBracket([noisy, mid, mover], 1);
  for (const [i, what] of [[0, "noise"], [2, "mover"]] as const) {
    const e = error(alignments[i].matrix, truth);
    assert(e < TOLERANCE, `${what}: ${e.toFixed(3)} px off`);
    strictEqual(alignments[i].mode, "translation", `${what}: auto chose ${alignments[i].mode}`);
  }
});

Deno.test("auto leaves a registered bracket alone", () => {
  const frames = [short, mid, long];
  const { frames: out, alignments } = alignBracket(frames, 1);
  strictEqual(alignments.map((a) => a.mode).join(), "off,reference,off");
  out.forEach((f, i) => strictEqual(f, frames[i]));
  for (const a of [alignments[0], alignments[2]]) {
    assert(a.residualBefore > 0 && a.residualBefore < 0.02, JSON.stringify(a.residuals));
    strictEqual(a.residualAfter, a.residualBefore);
  }
  // Off is off, and a frame that is the reference itself is not estimated; nor is one with
  // nothing to compare (black), nor one too small, whatever the mode.
  strictEqual(alignBracket(frames, 1, { mode: "off" }).alignments[0].mode, "off");
  strictEqual(alignBracket([mid, mid], 1, { mode: "homography" }).alignments[0].mode, "off");
  const black = alignBracket([newImage(W, H, 3, 8), mid], 1, { mode: "homography" });
  strictEqual(black.alignments[0].mode, "off");
  assert(Number.isNaN(black.alignments[0].residualBefore));
  strictEqual(
    describeAlignment(black.alignments[0], 1, W, H),
    "frame 1: not aligned (no residual measured)",
  );
  const tiny = newImage(20, 10, 3, 8);
  const tinyCopy = { ...tiny, data: tiny.data.slice() };
  strictEqual(alignBracket([tinyCopy, tiny], 1, { mode: "translation" }).alignments[0].mode, "off");
});

Deno.test("transfer curves: histograms find a tone curve, responses map exposures", () => {
  // The same 4000 values seen through v² (one frame) and as they are (the other), shuffled:
  // matching histograms needs no pairing.
  const rng = new Rng(3), a = rng.uniform(4000), b = a.map((v) => v * v).reverse();
  const curve = transferByHistogram(a, b);
  for (const v of [0.1, 0.35, 0.5, 0.8]) {
    assert(Math.abs(applyCurve(curve, v) - v * v) < 0.01, `${v} → ${applyCurve(curve, v)}`);
  }
  // γ 2.2 frames 2 stops apart: the longer one's value for the shorter one's v.
  const up = transferByResponse((v) => v ** 2.2, (v) => v ** 2.2, 4);
  assert(Math.abs(applyCurve(up, 0.3) - 0.3 * 4 ** (1 / 2.2)) < 1e-3);
  strictEqual(applyCurve(up, 0.9), 1);
});

Deno.test("warpImage samples bilinearly and fills what falls outside", () => {
  const img = newImage(5, 4, 1, 32);
  img.data.forEach((_, i) => img.data[i] = i * i);
  const { image, uncovered } = warpImage(img, translation(1.5, 1), () => -1);
  strictEqual(uncovered, 11 / 20);
  strictEqual(image.data[0], ((5 + 1) ** 2 + (5 + 2) ** 2) / 2);
  strictEqual(image.data[4], -1);
  strictEqual(image.data[15], -1);
});

Deno.test("homographies: inverse, composition, pyramid levels", () => {
  const h = compose(translation(3.2, -1.1), [1.01, 0.02, 0, -0.01, 0.98, 0, 1e-4, -2e-4, 1]);
  assert(maxDisplacement(compose(h, invert(h)), identity(), 100, 80) < 1e-9);
  assert(maxDisplacement(toCoarserLevel(toFinerLevel(h)), h, 100, 80) < 1e-9);
  // A level's pixel i covers the finer pixels 2i and 2i + 1.
  const [x, y] = apply(toFinerLevel(translation(1, 0)), 0.5, 0.5);
  strictEqual(x, 2.5);
  strictEqual(y, 0.5);
});

Deno.test("a hand's motion is a plausible homography; a fold or a 20% keystone is not", () => {
  const [w, h] = [600, 400],
    turn = (deg: number): Homography => {
      const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180);
      return compose(translation(w / 2, h / 2), [c, -s, 0, s, c, 0, 0, 0, 1]);
    };
  const about = (m: Homography) => compose(m, translation(-w / 2, -h / 2));
  assert(plausibleHomography(identity(), w, h));
  assert(plausibleHomography(compose(translation(24, -18), about(turn(2))), w, h));
  assert(plausibleHomography([1.01, 0.02, 5, -0.01, 0.99, -3, 2e-5, -3e-5, 1], w, h));
  assert(!plausibleHomography(about(turn(12)), w, h), "a 12° turn");
  assert(!plausibleHomography([1, 0, 0, 0, 1, 0, 4e-4, 0, 1], w, h), "a 20% keystone");
  assert(!plausibleHomography([1, 0, 0, 0, 1, 0, -2e-3, 0, 1], w, h), "a corner behind the camera");
});

Deno.test("--align values, and the line infer prints", () => {
  for (const m of ["auto", "off", "translation", "homography"]) strictEqual(parseAlignMode(m), m);
  assertThrows(
    () => parseAlignMode("affine\n"),
    (e: Error) =>
      e.message === '--align must be auto, off, translation, homography, got "affine\\x0a"',
  );
  const a = {
    mode: "translation" as const,
    matrix: translation(12.34, -4.06),
    residualBefore: 0.0812,
    residualAfter: 0.0121,
    residuals: { off: 0.0812, translation: 0.0121 },
    uncovered: 0,
  };
  strictEqual(
    describeAlignment(a, 1, 640, 480),
    "aligned frame 1: translation (+12.3, −4.1) px, residual 0.081 → 0.012",
  );
  assertThrows(() => alignBracket([short, newImage(4, 4, 3, 8)], 0), /frame 2 is 4x4x3/);
});
