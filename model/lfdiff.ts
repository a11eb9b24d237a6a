// LF-Diff composed for inference (§4.3), in the four configurations of the paper's Table 3:
//   baseline:  Ĥ = DHRNet_FRM-only(AM(X))
//   s1:        z = LPENet(gt);                  Ĥ = DHRNet(AM(X), z)   (needs the ground truth)
//   s2-no-dm:  z = LPENet_DM(X);                Ĥ = DHRNet(AM(X), z)
//   s2:        D = LPENet_DM(X); ẑ = DDIM_S(ε_θ(·, D, t), z_T ~ N(0, I)); Ĥ = DHRNet(AM(X), ẑ)
// Checkpoint names follow the fields: align.*, dhr.*, gtPrior.*, lpeDm.*, denoiser.*.

import { inferenceScope } from "../ops/autograd.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Alignment } from "./alignment.ts";
import { type LFDiffConfig, validateConfig } from "./config.ts";
import { Denoiser } from "./denoiser.ts";
import { DHRNet } from "./dhrnet.ts";
import { Schedule } from "./diffusion.ts";
import { GtPriorNet, LPENetDM } from "./lpenet.ts";
import { Module } from "./nn/module.ts";

export interface PriorOptions {
  /** Ground truth [B, 3, H, W], for the s1 variant. */
  gt?: Tensor;
  /** Starting noise [B, N, H/k, W/k] for s2 (drawn by the caller, so tiles can share it). */
  zT?: Tensor;
  /** DDIM steps (default config.samplingSteps). */
  steps?: number;
  onStep?: (i: number, total: number) => void;
}

export class LFDiff extends Module {
  align: Alignment;
  dhr: DHRNet;
  gtPrior: GtPriorNet | null;
  lpeDm: LPENetDM | null;
  denoiser: Denoiser | null;
  readonly schedule: Schedule;

  constructor(readonly config: LFDiffConfig, rng?: Rng) {
    super();
    validateConfig(config);
    const v = config.variant;
    this.align = new Alignment(6, config.channels, config.leakySlope, rng);
    this.dhr = new DHRNet(config, v !== "baseline", rng);
    this.gtPrior = v === "s1" ? new GtPriorNet(config, rng) : null;
    this.lpeDm = v === "s2" || v === "s2-no-dm" ? new LPENetDM(config, rng) : null;
    this.denoiser = v === "s2" ? new Denoiser(config, rng) : null;
    this.schedule = Schedule.from(config);
  }

  /** The prior z the DHRNet is given, or null for the baseline. */
  prior(x1: Tensor, x2: Tensor, x3: Tensor, o: PriorOptions = {}): Tensor | null {
    switch (this.config.variant) {
      case "baseline":
        return null;
      case "s1":
        if (!o.gt) throw new Error("the s1 variant takes its prior from the ground truth; pass gt");
        return this.gtPrior!.forward(o.gt);
      case "s2-no-dm":
        return this.lpeDm!.forward(x1, x2, x3);
      case "s2": {
        if (!o.zT) throw new Error("the s2 variant samples from noise; pass zT");
        const d = this.lpeDm!.forward(x1, x2, x3);
        const steps = o.steps ?? this.config.samplingSteps;
        const b = x1.shape[0];
        return this.schedule.sample(
          o.zT,
          steps,
          (z, t) => inferenceScope(() => this.denoiser!.forward(z, d, Array(b).fill(t))),
          (i) => o.onStep?.(i, steps),
        );
      }
    }
  }

  /** Ĥ [B, 3, H, W] from X_i = cat(L_i, H_i) [B, 6, H, W]. */
  forward(x1: Tensor, x2: Tensor, x3: Tensor, o: PriorOptions = {}): Tensor {
    const z = this.prior(x1, x2, x3, o);
    return this.dhr.forward(this.align.forward(x1, x2, x3), z);
  }

  /** Parameter counts of the top-level parts, for summaries. */
  parameterSummary(): { name: string; params: number }[] {
    const parts: [string, Module | null][] = [
      ["align", this.align],
      ["dhr", this.dhr],
      ["gtPrior", this.gtPrior],
      ["lpeDm", this.lpeDm],
      ["denoiser", this.denoiser],
    ];
    return parts.filter(([, m]) => m).map(([name, m]) => ({ name, params: m!.numParameters() }));
  }
}
