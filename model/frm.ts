// Feature Refinement Module (§4.1, Eq. 7–8) and its prior-fed twin, the PIM's skeleton.
//   F = RB(x);  F_low = AvgPool(F, k);  F_high = F − Up(F_low)
//   y = CA(conv1×1(cat(RB(F_high), Up(low(F_low)))));  out = y + x
// `low` is self-attention (a Restormer block) in FRM, and the Eq. 9 cross-attention with
// the prior z in PIM (model/pim.ts).   x [B, C, H, W] → [B, C, H, W], H and W divisible by k

import { add, sub } from "../ops/arith.ts";
import { concat } from "../ops/layout.ts";
import { avgPool2d } from "../ops/pool.ts";
import { upsample } from "../ops/resample.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { ChannelAttention } from "./channel_attention.ts";
import type { LFDiffConfig } from "./config.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";
import { ResidualBlock } from "./residual_block.ts";
import { TransformerBlock } from "./restormer.ts";

/** The frequency split shared by FRM and PIM; subclasses supply the low-frequency branch. */
export abstract class FrequencySplit extends Module {
  rb: ResidualBlock;
  rbHigh: ResidualBlock;
  fuse: Conv2d;
  ca: ChannelAttention;

  constructor(readonly c: LFDiffConfig, readonly pool: number, rng?: Rng) {
    super();
    this.rb = new ResidualBlock(c.channels, rng);
    this.rbHigh = new ResidualBlock(c.channels, rng);
    this.fuse = new Conv2d(2 * c.channels, c.channels, 1, { rng });
    this.ca = new ChannelAttention(c.channels, c.caReduction, rng);
  }

  protected split(x: Tensor, low: (fLow: Tensor) => Tensor): Tensor {
    const up = (t: Tensor) => upsample(t, this.pool, this.c.upsample);
    const f = this.rb.forward(x);
    const fLow = avgPool2d(f, this.pool);
    const fHigh = sub(f, up(fLow));
    const both = concat([this.rbHigh.forward(fHigh), up(low(fLow))], 1);
    return add(this.ca.forward(this.fuse.forward(both)), x);
  }
}

export class FRM extends FrequencySplit {
  sa: TransformerBlock;

  constructor(c: LFDiffConfig, rng?: Rng) {
    super(c, c.frmPool, rng);
    this.sa = new TransformerBlock(c.channels, c.heads, c.ffnExpansion, rng);
  }

  forward(x: Tensor): Tensor {
    return this.split(x, (low) => this.sa.forward(low));
  }
}
