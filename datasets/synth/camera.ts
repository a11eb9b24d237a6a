// The camera that turns a frame's radiance into an LDR frame: exposure 2^EV, signal-
// dependent noise (Poisson shot noise as a Gaussian of variance `shot`·s plus read noise of
// variance `read`, the same sensor and ISO for the whole bracket, so the short frame is the
// noisiest), clipping at full well, a response curve, and 8- or 16-bit quantisation.
// The response is L = S(s^(1/γ)) with γ drawn per scene around 2.2 and S a mild S-curve
// S(x) = x − c·sin(2πx)/2π (monotone for c < 1), so the network, which linearises with
// γ = 2.2 as it must for users' files, sees the spread of responses real cameras have.

import type { Rng } from "../../ops/rng.ts";
import { type Image, newImage } from "../../io/image.ts";

export interface Sensor {
  gamma: number;
  /** S-curve strength c (0: none). */
  sCurve: number;
  /** Shot-noise variance per unit of signal (1 = full well). */
  shot: number;
  /** Read-noise variance. */
  read: number;
  bits: 8 | 16;
}

const logUniform = (rng: Rng, lo: number, hi: number) => lo * Math.pow(hi / lo, rng.float());

/**
 * A scene's camera: γ in [1.9, 2.6], an S-curve on half the scenes, shot-noise variance
 * 3e-5…1e-3 (1 000–33 000 electrons at full scale: a phone sensor at ISO ~800 to a large
 * sensor at base ISO) and read noise σ 3e-4…2e-3 of full scale.
 */
export function sampleSensor(rng: Rng, bits: 8 | 16): Sensor {
  return {
    gamma: 1.9 + 0.7 * rng.float(),
    sCurve: rng.float() < 0.5 ? 0 : 0.35 * rng.float(),
    shot: logUniform(rng, 3e-5, 1e-3),
    read: logUniform(rng, 3e-4, 2e-3) ** 2,
    bits,
  };
}

/** The LDR frame of `radiance` (interleaved RGB, shortest-exposure units) at exposure ev. */
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
  for (let i = 0; i < radiance.length; i++) {
    const s = radiance[i] * k;
    const v = s + z[i] * Math.sqrt(cam.shot * s + cam.read);
    const x = v <= 0 ? 0 : v >= 1 ? 1 : Math.pow(v, g);
    out[i] = Math.round((x - c * Math.sin(2 * Math.PI * x)) * levels) / levels;
  }
  return img;
}
