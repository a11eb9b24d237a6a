// AHDRNet's attention alignment (Yan et al. 2019), as LF-Diff uses it (§4.1, [41]).
//   F_i = LeakyReLU(conv3×3(X_i))                         (one conv shared by the frames)
//   A_i = sigmoid(conv(LeakyReLU(conv(cat(F_i, F_2)))))   for i = 1, 3 (2C → 2C → C)
//   out = conv3×3(cat(F_1·A_1, F_2, F_3·A_3))             (3C → C)
//   X_i [B, cin, H, W] → [B, C, H, W]

import { mul } from "../ops/arith.ts";
import { inferenceScope, release } from "../ops/autograd.ts";
import { concat } from "../ops/layout.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { leakyRelu, sigmoid } from "../ops/unary.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";

export class Alignment extends Module {
  conv: Conv2d;
  att1: Conv2d[];
  att3: Conv2d[];
  fuse: Conv2d;

  constructor(inChannels: number, channels: number, readonly slope: number, rng?: Rng) {
    super();
    const c3 = (i: number, o: number) => new Conv2d(i, o, 3, { padding: 1, rng });
    this.conv = c3(inChannels, channels);
    this.att1 = [c3(2 * channels, 2 * channels), c3(2 * channels, channels)];
    this.att3 = [c3(2 * channels, 2 * channels), c3(2 * channels, channels)];
    this.fuse = c3(3 * channels, channels);
  }

  #attend(att: Conv2d[], fi: Tensor, fr: Tensor): Tensor {
    return inferenceScope(() => {
      const a = sigmoid(att[1].forward(leakyRelu(att[0].forward(concat([fi, fr], 1)), this.slope)));
      return mul(fi, a);
    });
  }

  forward(x1: Tensor, x2: Tensor, x3: Tensor): Tensor {
    const [f1, f2, f3] = [x1, x2, x3].map((x) =>
      inferenceScope(() => leakyRelu(this.conv.forward(x), this.slope))
    );
    const a1 = this.#attend(this.att1, f1, f2), a3 = this.#attend(this.att3, f3, f2);
    release(f1, f3);
    const out = inferenceScope(() => this.fuse.forward(concat([a1, f2, a3], 1)));
    release(a1, f2, a3);
    return out;
  }
}
