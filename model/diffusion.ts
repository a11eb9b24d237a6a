// The diffusion schedule and DDIM sampling (§3, §4.2; Song et al. 2021).
//   q(z_t | z_0) = N(√ᾱ_t z_0, (1 − ᾱ_t) I)                 (Eq. 1–2, t = 0 … T−1)
//   DDIM, η = 0, over S evenly spaced steps τ_S > … > τ_1:
//     ẑ_0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t;   z_prev = √ᾱ_prev ẑ_0 + √(1−ᾱ_prev) ε̂   (ᾱ after τ_1 is 1)
// Written with ops, so stage-2 training backpropagates through all S steps.

import { add, affine, mul } from "../ops/arith.ts";
import { chain } from "../ops/autograd.ts";
import { type Tensor, tensor } from "../ops/tensor.ts";
import type { LFDiffConfig } from "./config.ts";

/** The one check of a DDIM step count S against the schedule's T; returns S. */
export function checkSamplingSteps(s: number, timesteps: number): number {
  if (!(Number.isInteger(s) && s >= 1 && s <= timesteps)) {
    throw new Error(`DDIM steps must be an integer in 1..${timesteps}, got ${s}`);
  }
  return s;
}

export class Schedule {
  readonly alphaBar: Float64Array;

  /** `timesteps` is T, the diffusion length; S, the DDIM steps, is chosen per sampling. */
  constructor(readonly timesteps: number, betaStart: number, betaEnd: number) {
    this.alphaBar = new Float64Array(timesteps);
    let ab = 1;
    for (let t = 0; t < timesteps; t++) {
      const beta = timesteps === 1
        ? betaStart
        : betaStart + ((betaEnd - betaStart) * t) / (timesteps - 1);
      ab *= 1 - beta;
      this.alphaBar[t] = ab;
    }
  }

  static from(c: LFDiffConfig): Schedule {
    return new Schedule(c.timesteps, c.betaStart, c.betaEnd);
  }

  /** z_t = √ᾱ_t z0 + √(1−ᾱ_t) ε, with one step per batch entry (or one for all). */
  diffuse(z0: Tensor, t: number | number[], eps: Tensor): Tensor {
    if (typeof t === "number") {
      const ab = this.alphaBar[t];
      return add(affine(z0, Math.sqrt(ab), 0), affine(eps, Math.sqrt(1 - ab), 0));
    }
    const a = tensor(t.map((ti) => Math.sqrt(this.alphaBar[ti])), [t.length, 1, 1, 1], {
      device: z0.device,
    });
    const b = tensor(t.map((ti) => Math.sqrt(1 - this.alphaBar[ti])), [t.length, 1, 1, 1], {
      device: z0.device,
    });
    return add(mul(z0, a), mul(eps, b));
  }

  /** DDIM's S steps, largest first: floor(i·T/S) for i = S−1 … 0. */
  ddimSteps(s: number): number[] {
    checkSamplingSteps(s, this.timesteps);
    return Array.from({ length: s }, (_, i) => Math.floor(((s - 1 - i) * this.timesteps) / s));
  }

  /** One deterministic DDIM update from step t to tPrev (−1 = the end). */
  ddimStep(zt: Tensor, eps: Tensor, t: number, tPrev: number): Tensor {
    const ab = this.alphaBar[t], abPrev = tPrev >= 0 ? this.alphaBar[tPrev] : 1;
    // z_prev = a·z_t + b·ε̂ with a = √ᾱ_prev/√ᾱ_t, b = √(1−ᾱ_prev) − a·√(1−ᾱ_t)
    const a = Math.sqrt(abPrev / ab), b = Math.sqrt(1 - abPrev) - a * Math.sqrt(1 - ab);
    return add(affine(zt, a, 0), affine(eps, b, 0));
  }

  /** Runs S DDIM steps from zT with ε̂ = predict(z, t). */
  sample(
    zT: Tensor,
    s: number,
    predict: (z: Tensor, t: number) => Tensor,
    onStep?: (i: number) => void,
  ): Tensor {
    const ts = this.ddimSteps(s);
    return chain(
      zT,
      ts.map((t, i) => (z: Tensor) => {
        const next = this.ddimStep(z, predict(z, t), t, i + 1 < ts.length ? ts[i + 1] : -1);
        onStep?.(i + 1);
        return next;
      }),
    );
  }
}
