// Channel attention (RCAN's CALayer): x · sigmoid(conv1×1(ReLU(conv1×1(GAP(x))))).
//   x [B, C, H, W] → [B, C, H, W]; the squeeze has max(1, floor(C / reduction)) channels.

import { mul } from "../ops/arith.ts";
import { globalAvgPool } from "../ops/pool.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";

export class ChannelAttention extends Module {
  squeeze: Conv2d;
  excite: Conv2d;

  constructor(channels: number, reduction: number, rng?: Rng) {
    super();
    const mid = Math.max(1, Math.floor(channels / reduction));
    this.squeeze = new Conv2d(channels, mid, 1, { activation: { op: "relu" }, rng });
    this.excite = new Conv2d(mid, channels, 1, { activation: { op: "sigmoid" }, rng });
  }

  forward(x: Tensor): Tensor {
    return mul(x, this.excite.forward(this.squeeze.forward(globalAvgPool(x))));
  }
}
