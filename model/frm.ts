// Feature Refinement Module (§4.1, Eq. 7–8) and its prior-fed twin, the PIM's skeleton.
//   F = RB(x);  F_low = AvgPool(F, k);  F_high = F − Up(F_low)
//   y = CA(conv1×1(cat(RB(F_high), Up(low(F_low)))));  out = y + x
// A 1×1 conv commutes with a linear upsampling whose weights sum to one (bilinear, nearest),
// so conv1×1(cat(h, Up(l))) runs as W_h·h + b + Up(W_l·l): the low half of the fusion at
// 1/k² of the pixels, and no full-size concat written (same weights, same result).
// `low` is self-attention (a Restormer block) in FRM, and the Eq. 9 cross-attention with
// the prior z in PIM (model/pim.ts).   x [B, C, H, W] → [B, C, H, W], H and W divisible by k
// In inference the branches run as chains, so Up(F_low), F_high, RB(F_high) and the outputs
// after it are each freed once used; F, F_low and the low branch stay until the module returns.
// The low branch runs first, before the full-size high branch exists.

import { add, sub } from "../ops/arith.ts";
import { chain } from "../ops/autograd.ts";
import { conv2d } from "../ops/conv.ts";
import { split } from "../ops/layout.ts";
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
    const [wHigh, wLow] = split(this.fuse.weight, [this.c.channels, this.c.channels], 1);
    const lo = chain(fLow, [low, (t) => conv2d(t, wLow, null), up]);
    return chain(f, [
      (t) => sub(t, up(fLow)),
      (t) => this.rbHigh.forward(t),
      (t) => conv2d(t, wHigh, this.fuse.bias, {}, lo),
      (t) => this.ca.forward(t),
      (t) => add(t, x),
    ]);
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
