// Low-frequency Prior Extraction Networks (§4.1 Eq. 6, §4.2 Eq. 13).
//   LPENet:    z = tail(RB^n(head(PixelUnshuffle_k(cat(I_gt, T(I_gt))))))   → [B, N, H/k, W/k]
//   LPENet_DM: D = LPENet'(AM(PixelUnshuffle_k(X_1), …(X_2), …(X_3)))       → [B, N, H/k, W/k]
// LPENet_DM's own alignment module works on the unshuffled frames (6k² channels) and its
// trunk's first conv takes the AM's C channels instead of 6k².

import { chain } from "../ops/autograd.ts";
import { concat, pixelUnshuffle } from "../ops/layout.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Alignment } from "./alignment.ts";
import type { LFDiffConfig } from "./config.ts";
import { muLawTensor } from "./losses.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";
import { ResidualBlock } from "./residual_block.ts";

export class LPENet extends Module {
  head: Conv2d;
  blocks: ResidualBlock[];
  tail: Conv2d;

  constructor(inChannels: number, c: LFDiffConfig, rng?: Rng) {
    super();
    this.head = new Conv2d(inChannels, c.lpeChannels, 3, { padding: 1, rng });
    this.blocks = Array.from({ length: c.lpeBlocks }, () => new ResidualBlock(c.lpeChannels, rng));
    this.tail = new Conv2d(c.lpeChannels, c.priorChannels, 3, { padding: 1, rng });
  }

  forward(x: Tensor): Tensor {
    return this.tail.forward(
      chain(this.head.forward(x), this.blocks.map((b) => (y) => b.forward(y))),
    );
  }
}

/** Stage 1: the prior from the ground truth. gt [B, 3, H, W] → z [B, N, H/k, W/k] */
export class GtPriorNet extends Module {
  lpe: LPENet;

  constructor(readonly c: LFDiffConfig, rng?: Rng) {
    super();
    this.lpe = new LPENet(6 * c.unshuffle * c.unshuffle, c, rng);
  }

  forward(gt: Tensor): Tensor {
    return this.lpe.forward(pixelUnshuffle(concat([gt, muLawTensor(gt)], 1), this.c.unshuffle));
  }
}

/** Stage 2: the condition D from the LDR frames. X_i [B, 6, H, W] → D [B, N, H/k, W/k] */
export class LPENetDM extends Module {
  align: Alignment;
  lpe: LPENet;

  constructor(readonly c: LFDiffConfig, rng?: Rng) {
    super();
    const k2 = c.unshuffle * c.unshuffle;
    this.align = new Alignment(6 * k2, c.channels, c.leakySlope, rng);
    this.lpe = new LPENet(c.channels, c, rng);
  }

  forward(x1: Tensor, x2: Tensor, x3: Tensor): Tensor {
    const [u1, u2, u3] = [x1, x2, x3].map((x) => pixelUnshuffle(x, this.c.unshuffle));
    return this.lpe.forward(this.align.forward(u1, u2, u3).aligned);
  }
}
