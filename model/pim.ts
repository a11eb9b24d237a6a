// Prior Integration Module (§4.1, Eq. 9): an FRM whose low-frequency branch (AvgPool 4, the
// prior's resolution) is cross-attention from the features F to the prior z.
//   Q = dw3×3(conv1×1(F)) [C];  K, V = dw3×3(conv1×1(z)) [N each]
//   A = softmax over the N prior channels of (Q̂·K̂ᵀ · temperature)   [C × N], one head
//   out = W_c(A·V̂) + F                                             F [B, C, h, w], z [B, N, h, w]
// Eq. 9 writes A = softmax(K̂Q̂/γ) [N × C] and V̂·A; this is its transpose, with the learnable
// temperature standing for 1/γ. q and k are L2-normalised when config.pimNormalize is set.

import { add, mul } from "../ops/arith.ts";
import { chunk, reshape } from "../ops/layout.ts";
import { matmul } from "../ops/matmul.ts";
import { l2Normalize } from "../ops/norm.ts";
import type { Rng } from "../ops/rng.ts";
import { softmax } from "../ops/softmax.ts";
import { fmt, ShapeError } from "../ops/shape.ts";
import { ones, type Tensor } from "../ops/tensor.ts";
import type { LFDiffConfig } from "./config.ts";
import { FrequencySplit } from "./frm.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module, parameter } from "./nn/module.ts";

export class PriorCrossAttention extends Module {
  temperature: Tensor;
  q: Conv2d;
  qDw: Conv2d;
  kv: Conv2d;
  kvDw: Conv2d;
  projectOut: Conv2d;

  constructor(channels: number, prior: number, readonly normalize: boolean, rng?: Rng) {
    super();
    this.temperature = parameter(ones([1, 1, 1]));
    this.q = new Conv2d(channels, channels, 1, { bias: false, rng });
    this.qDw = new Conv2d(channels, channels, 3, {
      padding: 1,
      groups: channels,
      bias: false,
      rng,
    });
    this.kv = new Conv2d(prior, 2 * prior, 1, { bias: false, rng });
    this.kvDw = new Conv2d(2 * prior, 2 * prior, 3, {
      padding: 1,
      groups: 2 * prior,
      bias: false,
      rng,
    });
    this.projectOut = new Conv2d(channels, channels, 1, { bias: false, rng });
  }

  forward(f: Tensor, z: Tensor): Tensor {
    const [b, c, h, w] = f.shape;
    if (z.rank !== 4 || z.shape[0] !== b || z.shape[2] !== h || z.shape[3] !== w) {
      throw new ShapeError(
        `PIM: prior ${fmt(z.shape)} does not match pooled features ${fmt(f.shape)}`,
      );
    }
    const n = z.shape[1];
    let q = reshape(this.qDw.forward(this.q.forward(f)), [b, 1, c, h * w]);
    let [k, v] = chunk(this.kvDw.forward(this.kv.forward(z)), 2, 1).map((t) =>
      reshape(t, [b, 1, n, h * w])
    );
    if (this.normalize) {
      q = l2Normalize(q);
      k = l2Normalize(k);
    }
    const attn = softmax(mul(matmul(q, k, false, true), this.temperature)); // [b, 1, C, N]
    return add(this.projectOut.forward(reshape(matmul(attn, v), [b, c, h, w])), f);
  }
}

export class PIM extends FrequencySplit {
  cross: PriorCrossAttention;

  constructor(c: LFDiffConfig, rng?: Rng) {
    super(c, c.pimPool, rng);
    this.cross = new PriorCrossAttention(c.channels, c.priorChannels, c.pimNormalize, rng);
  }

  forward(x: Tensor, z: Tensor): Tensor {
    return this.split(x, (low) => this.cross.forward(low, z));
  }
}
