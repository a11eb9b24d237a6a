// Residual block without normalisation (EDSR): x + conv(ReLU(conv(x))), 3×3 convs; the
// second conv adds x as it writes its output.
//   x [B, C, H, W] → [B, C, H, W]

import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";

export class ResidualBlock extends Module {
  conv1: Conv2d;
  conv2: Conv2d;

  constructor(channels: number, rng?: Rng) {
    super();
    this.conv1 = new Conv2d(channels, channels, 3, {
      padding: 1,
      activation: { op: "relu" },
      rng,
    });
    this.conv2 = new Conv2d(channels, channels, 3, { padding: 1, rng });
  }

  forward(x: Tensor): Tensor {
    return this.conv2.forward(this.conv1.forward(x), x);
  }
}
