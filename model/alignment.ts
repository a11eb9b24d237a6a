// AHDRNet's attention alignment (Yan et al. 2019), as LF-Diff uses it (§4.1, [41]).
//   F_i = LeakyReLU(conv3×3(X_i))                         (one conv shared by the frames)
//   A_i = sigmoid(conv(LeakyReLU(conv(cat(F_i, F_2)))))   for i = 1, 3 (2C → 2C → C)
//   out = conv3×3(cat(F_1·A_1, F_2, F_3·A_3))             (3C → C)
//   X_i [B, cin, H, W] → out [B, C, H, W], and F_2 (AHDRNet's global skip) when asked for

import { mul } from "../ops/arith.ts";
import { chain } from "../ops/autograd.ts";
import { concat } from "../ops/layout.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { Conv2d } from "./nn/layers.ts";
import { Sequential } from "./nn/sequential.ts";
import { Module } from "./nn/module.ts";

/** F_i · A_i with A_i = sigmoid(conv(LeakyReLU(conv(cat(F_i, F_ref))))). */
export class AttentionGate extends Module {
  readonly net: Sequential;

  constructor(channels: number, slope: number, rng?: Rng) {
    super();
    this.net = new Sequential([
      new Conv2d(2 * channels, 2 * channels, 3, {
        padding: 1,
        activation: { op: "leakyRelu", slope },
        rng,
      }),
      new Conv2d(2 * channels, channels, 3, { padding: 1, activation: { op: "sigmoid" }, rng }),
    ]);
  }

  /** Named `att1.0.*`, `att1.1.*`, as AHDRNet's attention convs. */
  override namedParameters(prefix = ""): [string, Tensor][] {
    return this.net.namedParameters(prefix);
  }

  forward(fi: Tensor, fRef: Tensor): Tensor {
    return mul(fi, this.net.forward(concat([fi, fRef], 1)));
  }
}

export class Alignment extends Module {
  conv: Conv2d;
  att1: AttentionGate;
  att3: AttentionGate;
  fuse: Conv2d;

  constructor(inChannels: number, channels: number, slope: number, rng?: Rng) {
    super();
    this.conv = new Conv2d(inChannels, channels, 3, {
      padding: 1,
      activation: { op: "leakyRelu", slope },
      rng,
    });
    this.att1 = new AttentionGate(channels, slope, rng);
    this.att3 = new AttentionGate(channels, slope, rng);
    this.fuse = new Conv2d(3 * channels, channels, 3, { padding: 1, rng });
  }

  forward(
    x1: Tensor,
    x2: Tensor,
    x3: Tensor,
    withReference = false,
  ): { aligned: Tensor; reference: Tensor | null } {
    const f = (x: Tensor) => this.conv.forward(x);
    const f2 = f(x2);
    // As chains, so that in inference F_1, F_3, the gated features and their concat are each
    // freed once used, not held until the module returns.
    const gated = (x: Tensor, att: AttentionGate) => chain(x, [f, (fi) => att.forward(fi, f2)]);
    const aligned = chain(f2, [
      (ref) => concat([gated(x1, this.att1), ref, gated(x3, this.att3)], 1),
      (t) => this.fuse.forward(t),
    ]);
    return { aligned, reference: withReference ? f2 : null };
  }
}
