// The camera that turns a frame's scene radiance into an LDR frame, as a real one does:
//   raw = A·S               S: linear sRGB radiance at the frame's exposure; A: the scene's
//                           light (an illuminant of 2700–7500 K) seen through a camera's
//                           colour filters (a real camera's matrix) and channel sensitivities
//   + noise                 shot noise of variance shot·raw plus read noise, per raw channel
//   clip at 1               each raw channel saturates on its own (full well)
//   ⊙ g, clip at 1          white balance: gains ≥ 1 that make a neutral grey equal in all
//                           channels, then the balanced values clip (a channel with a large
//                           gain saturates early: clipped highlights shift hue, as in camera
//                           JPEGs, until every channel clips to white)
//   M·                      the colour matrix back to linear sRGB, M = (diag(g)·A)⁻¹, so an
//                           unclipped pixel is S again, up to noise
//   (x − b)/(1 − b), ≥ 0     the black point b (0 unless asked): a JPEG engine maps the
//                           darkest light to code 0 (real camera JPEGs lose everything
//                           below about 0.2–0.5% of white, 8–9 stops down)
//   L = S(x^(1/γ))          the output curve: the network's convention, γ = 2.2 and no
//                           S-curve, unless a test asks for another; or, with `curve: "srgb"`,
//                           L = S(sRGB(x)), whose linear toe gives the deepest shadows far
//                           fewer codes than γ 2.2 does (as real camera JPEGs do)
//   quantise                8 or 16 bits; 8-bit frames are camera JPEGs (quality 75–98)
//   undo (sRGB curve or     the frame mapped back into the convention through the exact
//   a black point)          inverse, as a perfect response estimate would (code 0 → 0,
//                           code z > 0 → b + (1 − b)·curve⁻¹(z)): what the network sees of a
//                           real camera's frame, crushed and lost shadows included
// The bracket's frames share the camera; each non-reference frame's actual exposure is off
// its nominal EV by up to ±0.1 stop (real shutters and apertures are).

import { Rng } from "../../ops/rng.ts";
import { type Image, newImage } from "../../io/image.ts";
import { jpegRoundTrip } from "../../io/jpeg_encode.ts";
import { GAMMA } from "../../imaging/exposure.ts";
import { toConventionBy } from "../../imaging/response.ts";
import { srgbDecode, srgbEncode } from "../../imaging/tonemap.ts";

export interface Sensor {
  /** Output curve exponent (2.2: the network's convention). */
  gamma: number;
  /** S-curve strength c of the output curve (0: none). */
  sCurve: number;
  /** The output curve before the S-curve: x^(1/γ), or sRGB's, then undone into the convention. */
  curve: "gamma" | "srgb";
  /** Shot-noise variance per unit of raw signal (1 = full well). */
  shot: number;
  /** Read-noise variance (raw). */
  read: number;
  bits: 8 | 16;
  /** Linear sRGB → raw (row-major 3×3): illuminant, colour filters, sensitivities. */
  toRaw: number[];
  /** White-balance gains (≥ 1). */
  gains: number[];
  /** Balanced raw → linear sRGB (row-major 3×3). */
  toSrgb: number[];
  /** JPEG quality of 8-bit frames (0: none). */
  jpeg: number;
  /** JPEG chroma subsampling. */
  subsampling: "4:2:0" | "4:4:4";
  /** Largest exposure error of a non-reference frame, in stops. */
  jitter: number;
  /** Black point: linear output below it becomes code 0 (0: none). */
  black: number;
}

const logUniform = (rng: Rng, lo: number, hi: number) => lo * Math.pow(hi / lo, rng.float());

/**
 * XYZ (D65) → camera matrices, ×10⁴, of five cameras as Adobe's DNG converter lists them
 * (ColorMatrix2; the values in dcraw's adobe_coeff table): Canon EOS 5D Mark II, Nikon
 * D850, Sony α7 III, Canon EOS 80D, Fujifilm X-T2.
 */
const XYZ_TO_CAMERA = [
  [4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651],
  [10405, -3755, -1270, -5461, 13787, 1793, -1040, 2015, 6785],
  [7374, -2389, -551, -5435, 13162, 2519, -1006, 1795, 6552],
  [7457, -671, -937, -4849, 12495, 2643, -1213, 2354, 5492],
  [11434, -4948, -1210, -3746, 12042, 1903, -666, 1479, 5235],
];

// deno-fmt-ignore
const SRGB_TO_XYZ = [
  0.4124564, 0.3575761, 0.1804375,
  0.2126729, 0.7151522, 0.0721750,
  0.0193339, 0.1191920, 0.9503041,
];
// deno-fmt-ignore
const XYZ_TO_SRGB = [
  3.2404542, -1.5371385, -0.4985314,
  -0.9692660, 1.8760108, 0.0415560,
  0.0556434, -0.2040259, 1.0572252,
];

export function mul3(a: number[], b: number[]): number[] {
  const o = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 3; k++) o[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
    }
  }
  return o;
}

export function inv3(m: number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  // deno-fmt-ignore
  return [
    A / det, -(b * i - c * h) / det, (b * f - c * e) / det,
    B / det, (a * i - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * h - b * g) / det, (a * e - b * d) / det,
  ];
}

const apply = (m: number[], v: number[]) =>
  [0, 1, 2].map((i) => m[i * 3] * v[0] + m[i * 3 + 1] * v[1] + m[i * 3 + 2] * v[2]);

/** The linear sRGB colour of a black body at `kelvin`, relative to D65 (green 1). */
export function illuminant(kelvin: number): number[] {
  // Kim et al.'s cubic fit of the Planckian locus (1667–25000 K), to XYZ with Y = 1.
  const t = kelvin, t2 = t * t, t3 = t2 * t;
  const x = t <= 4000
    ? -0.2661239e9 / t3 - 0.2343589e6 / t2 + 0.8776956e3 / t + 0.17991
    : -3.0258469e9 / t3 + 2.1070379e6 / t2 + 0.2226347e3 / t + 0.24039;
  const x2 = x * x, x3 = x2 * x;
  const y = t <= 2222
    ? -1.1063814 * x3 - 1.3481102 * x2 + 2.18555832 * x - 0.20219683
    : t <= 4000
    ? -0.9549476 * x3 - 1.37418593 * x2 + 2.09137015 * x - 0.16748867
    : 3.081758 * x3 - 5.8733867 * x2 + 3.75112997 * x - 0.37001483;
  const rgb = apply(XYZ_TO_SRGB, [x / y, 1, (1 - x - y) / y]);
  const white = apply(XYZ_TO_SRGB, [0.95047, 1, 1.08883]); // D65
  const v = rgb.map((c, i) => Math.max(c, 1e-3) / white[i]);
  return v.map((c) => c / v[1]);
}

export interface SensorChoice {
  bits: 8 | 16;
  /** Fix the output curve (default the convention: γ 2.2, no S-curve). */
  gamma?: number;
  sCurve?: number;
}

/**
 * A scene's camera: one of five colour matrices, an illuminant of 2700–7500 K, red and blue
 * sensitivities 0.45–0.9 of green's, shot-noise variance 3e-5…1e-3 (1 000–33 000 electrons at
 * full scale) and read noise σ 3e-4…2e-3; 8-bit frames are JPEGs of quality 75–98, 4:2:0 four
 * times in five; exposures off by up to ±0.1 stop.
 */
export function sampleSensor(rng: Rng, o: SensorChoice): Sensor {
  const xyz = XYZ_TO_CAMERA[rng.int(XYZ_TO_CAMERA.length)].map((v) => v / 1e4);
  let cam = mul3(xyz, SRGB_TO_XYZ);
  // Rows scaled so D65 white gives equal raw channels (how DNG matrices are normalised).
  const white = apply(cam, [1, 1, 1]);
  cam = cam.map((v, i) => v / white[Math.floor(i / 3)]);
  const light = illuminant(logUniform(rng, 2700, 7500));
  const sens = [0.45 + 0.45 * rng.float(), 1, 0.45 + 0.45 * rng.float()];
  let toRaw = mul3(
    mul3([sens[0], 0, 0, 0, sens[1], 0, 0, 0, sens[2]], cam),
    [light[0], 0, 0, 0, light[1], 0, 0, 0, light[2]],
  );
  const grey = apply(toRaw, [1, 1, 1]), top = Math.max(...grey);
  toRaw = toRaw.map((v) => v / top); // a neutral S = 1 just saturates the strongest channel
  const gains = grey.map((v) => top / v);
  const toSrgb = inv3(mul3([gains[0], 0, 0, 0, gains[1], 0, 0, 0, gains[2]], toRaw));
  return {
    gamma: o.gamma ?? GAMMA,
    sCurve: o.sCurve ?? 0,
    curve: "gamma",
    shot: logUniform(rng, 3e-5, 1e-3),
    read: logUniform(rng, 3e-4, 2e-3) ** 2,
    bits: o.bits,
    toRaw,
    gains,
    toSrgb,
    jpeg: o.bits === 8 ? 75 + rng.int(24) : 0,
    subsampling: rng.float() < 0.8 ? "4:2:0" : "4:4:4",
    jitter: 0.1,
    black: 0,
  };
}

/** A black-point range [lo, hi] as configs and `deno task synth` take it: 0 < lo ≤ hi < 0.5. */
export const isBlackRange = (v: unknown): v is [number, number] =>
  Array.isArray(v) && v.length === 2 && v[0] > 0 && v[0] <= v[1] && v[1] < 0.5;

/**
 * The camera parts a training config or `deno task synth` fixes for a scene: the output curve,
 * a black point log-uniform in `black` from the scene seed's own draw (so the rest of the
 * scene is what it would be without one), and `noise: false` for noise-free frames (brackets
 * exposed from radiance maps, as the field's synthetic test sets are).
 */
export function cameraChoice(
  sceneSeed: number,
  o: { curve?: Sensor["curve"]; black?: [number, number]; noise?: boolean },
): Partial<Sensor> | undefined {
  if (!o.curve && !o.black && o.noise !== false) return undefined;
  const camera: Partial<Sensor> = {};
  if (o.curve) camera.curve = o.curve;
  if (o.noise === false) camera.shot = camera.read = 0;
  if (o.black) {
    const [lo, hi] = o.black;
    camera.black = lo * Math.pow(hi / lo, new Rng(sceneSeed ^ 0x5bd1e995).float());
  }
  return camera;
}

/** The ideal camera of tests: no colour processing, no JPEG, no exposure error. */
export function plainSensor(s: Partial<Sensor> = {}): Sensor {
  const eye = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  return {
    gamma: GAMMA,
    sCurve: 0,
    curve: "gamma",
    shot: 1e-4,
    read: 1e-6,
    bits: 16,
    toRaw: eye,
    gains: [1, 1, 1],
    toSrgb: eye,
    jpeg: 0,
    subsampling: "4:2:0",
    jitter: 0,
    black: 0,
    ...s,
  };
}

/** The LDR frame of `radiance` (interleaved linear sRGB, shortest-exposure units) at 2^ev. */
export function expose(
  radiance: Float32Array,
  w: number,
  h: number,
  ev: number,
  cam: Sensor,
  rng: Rng,
): Image {
  const img = newImage(w, h, 3, cam.bits);
  const k = Math.pow(2, ev), levels = (1 << cam.bits) - 1, g = 1 / cam.gamma;
  const c = cam.sCurve / (2 * Math.PI), z = rng.normal(radiance.length), out = img.data;
  const curve = cam.curve === "srgb" ? srgbEncode : (o: number) => Math.pow(o, g);
  const b = cam.black, encode = b ? (o: number) => curve(Math.max(o - b, 0) / (1 - b)) : curve;
  const { toRaw: a, gains, toSrgb: m } = cam;
  const raw = [0, 0, 0], bal = [0, 0, 0];
  for (let p = 0; p < radiance.length; p += 3) {
    const s0 = radiance[p] * k, s1 = radiance[p + 1] * k, s2 = radiance[p + 2] * k;
    for (let i = 0; i < 3; i++) {
      const r = Math.max(a[i * 3] * s0 + a[i * 3 + 1] * s1 + a[i * 3 + 2] * s2, 0);
      const v = r + z[p + i] * Math.sqrt(cam.shot * r + cam.read);
      raw[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
      bal[i] = Math.min(raw[i] * gains[i], 1);
    }
    for (let i = 0; i < 3; i++) {
      const o = m[i * 3] * bal[0] + m[i * 3 + 1] * bal[1] + m[i * 3 + 2] * bal[2];
      const x = o <= 0 ? 0 : o >= 1 ? 1 : encode(o);
      out[p + i] = Math.round((x - c * Math.sin(2 * Math.PI * x)) * levels) / levels;
    }
  }
  const frame = cam.jpeg ? { ...jpegRoundTrip(img, cam.jpeg, cam.subsampling), bitDepth: 8 } : img;
  return cam.curve === "srgb" || cam.black ? toConventionExactly(frame, cam) : frame;
}

/** A frame of `cam`'s curve and black point re-encoded in the convention. */
function toConventionExactly(frame: Image, cam: Sensor): Image {
  // L = S(y) inverted by bisection, y decoded by the curve, then the black point put back;
  // code 0 stays black.
  const c = cam.sCurve / (2 * Math.PI), b = cam.black;
  const decode = cam.curve === "srgb" ? srgbDecode : (y: number) => Math.pow(y, cam.gamma);
  const inverse = (z: number) => {
    if (z <= 0) return 0;
    let lo = 0, hi = 1;
    for (let it = 0; it < 40; it++) {
      const m = (lo + hi) / 2;
      if (m - c * Math.sin(2 * Math.PI * m) < z) lo = m;
      else hi = m;
    }
    return b + (1 - b) * decode((lo + hi) / 2);
  };
  return { ...toConventionBy(frame, [inverse, inverse, inverse]), bitDepth: 16 };
}
