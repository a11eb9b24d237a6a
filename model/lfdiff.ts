// LF-Diff composed for inference (§4.3), in the four configurations of the paper's Table 3:
//   baseline:  Ĥ = DHRNet_FRM-only(AM(X))
//   s1:        z = LPENet(gt);                  Ĥ = DHRNet(AM(X), z)   (needs the ground truth)
//   s2-no-dm:  z = LPENet_DM(X);                Ĥ = DHRNet(AM(X), z)
//   s2:        D = LPENet_DM(X); ẑ = σ·DDIM_S(ε_θ(·, D, t), z_T ~ N(0, I)); Ĥ = DHRNet(AM(X), ẑ)
//              (σ = config.priorScale: the DM works on z/σ)
// Checkpoint names follow the fields: align.*, dhr.*, gtPrior.*, lpeDm.*, denoiser.*.

import { affine } from "../ops/arith.ts";
import { withPrecision } from "../ops/precision.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Alignment } from "./alignment.ts";
import { type LFDiffConfig, validateConfig } from "./config.ts";
import { Denoiser } from "./denoiser.ts";
import { DHRNet } from "./dhrnet.ts";
import { checkSamplingSteps, Schedule } from "./diffusion.ts";
import { GtPriorNet, LPENetDM } from "./lpenet.ts";
import { Module } from "./nn/module.ts";

export interface ForwardOptions {
  /** Ground truth [B, 3, H, W], for the s1 variant. */
  gt?: Tensor;
  /** Starting noise [B, N, H/k, W/k] for s2 (drawn by the caller, so tiles can share it), in
   * the DM's normalised space (z / priorScale). */
  zT?: Tensor;
  /** DDIM steps S (default config.samplingSteps). */
  steps?: number;
  /** Progress: DDIM steps of the prior, then reconstruction blocks (from 0 of n). */
  onProgress?: (stage: "prior" | "reconstruction", done: number, total: number) => void;
}

/** The prior z the DHRNet is given (null for the baseline) and, for s2/s2-no-dm, D. */
export interface Prior {
  z: Tensor | null;
  d: Tensor | null;
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

  /** S for a request (the config's default when none), checked against T. */
  samplingSteps(requested?: number): number {
    return checkSamplingSteps(requested ?? this.config.samplingSteps, this.config.timesteps);
  }

  prior(x1: Tensor, x2: Tensor, x3: Tensor, o: ForwardOptions = {}): Prior {
    switch (this.config.variant) {
      case "baseline":
        return { z: null, d: null };
      case "s1":
        if (!o.gt) throw new Error("the s1 variant takes its prior from the ground truth; pass gt");
        return { z: this.gtPrior!.forward(o.gt), d: null };
      case "s2-no-dm": {
        const d = this.lpeDm!.forward(x1, x2, x3);
        return { z: d, d };
      }
      case "s2": {
        if (!o.zT) throw new Error("the s2 variant samples from noise; pass zT");
        const d = this.lpeDm!.forward(x1, x2, x3);
        const s = this.samplingSteps(o.steps), b = x1.shape[0];
        // fp32 under any precision: the DM's tensors are small, and bf16 only added
        // conversions (the loop took 1.9 s against 0.73–0.82 s at 512×384, paper-literal).
        const zn = withPrecision("fp32", () =>
          this.schedule.sample(
            o.zT!,
            s,
            (zt, t) => this.denoiser!.forward(zt, d, Array(b).fill(t)),
            (i) => o.onProgress?.("prior", i, s),
          ));
        return { z: affine(zn, this.config.priorScale, 0), d };
      }
    }
  }

  /** Ĥ = DHRNet(AM(X), z), with the global skip the config names. */
  reconstruct(
    x1: Tensor,
    x2: Tensor,
    x3: Tensor,
    z: Tensor | null,
    onBlock?: (done: number, total: number) => void,
  ): Tensor {
    const { aligned, reference } = this.align.forward(
      x1,
      x2,
      x3,
      this.config.globalSkip === "reference",
    );
    return this.dhr.forward(aligned, z, reference ?? aligned, onBlock);
  }

  /** Ĥ [B, 3, H, W] from X_i = cat(L_i, H_i) [B, 6, H, W]. */
  forward(x1: Tensor, x2: Tensor, x3: Tensor, o: ForwardOptions = {}): Tensor {
    const { z } = this.prior(x1, x2, x3, o);
    o.onProgress?.("reconstruction", 0, this.dhr.blocks.length);
    return this.reconstruct(x1, x2, x3, z, (i, n) => o.onProgress?.("reconstruction", i, n));
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
