// Prior Integration Module (§4.1, Eq. 9): an FRM whose low-frequency branch (AvgPool 4, the
// prior's resolution) is cross-attention from the features F to the prior z.
//   Q = dw3×3(conv1×1(F)) [C];  K, V = dw3×3(conv1×1(z)) [N each]
//   A = softmax(Q̂·K̂ᵀ · temperature) [C × N], one head;   out = W_c(A·V̂) + F
//                                                        F [B, C, h, w], z [B, N, h, w]
// Eq. 9 writes A = softmax(K̂Q̂/γ) [N × C] and V̂·A; the learnable temperature stands for 1/γ.
// Open choices (config): the softmax axis (over N, or over C as Eq. 9's N×C reads), q/k L2
// normalisation, and HI-Diff's transformer wrapping (LayerNorm, attention, LayerNorm, GDFN).

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
import { Conv2d, LayerNorm2d } from "./nn/layers.ts";
import { GDFN } from "./restormer.ts";
import { Module, parameter } from "./nn/module.ts";

export class PriorCrossAttention extends Module {
  temperature: Tensor;
  q: Conv2d;
  qDw: Conv2d;
  kv: Conv2d;
  kvDw: Conv2d;
  projectOut: Conv2d;
  /** HI-Diff's block around the attention (pimBlock "transformer"), else null. */
  norm1: LayerNorm2d | null;
  norm2: LayerNorm2d | null;
  ffn: GDFN | null;

  constructor(channels: number, prior: number, readonly c: LFDiffConfig, rng?: Rng) {
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
    const block = c.pimBlock === "transformer";
    this.norm1 = block ? new LayerNorm2d(channels) : null;
    this.norm2 = block ? new LayerNorm2d(channels) : null;
    this.ffn = block ? new GDFN(channels, c.ffnExpansion, rng) : null;
  }

  /** W_c(A·V̂): the attention itself, [B, C, h, w]. */
  #attend(f: Tensor, z: Tensor): Tensor {
    const [b, c, h, w] = f.shape, n = z.shape[1];
    let q = reshape(this.qDw.forward(this.q.forward(f)), [b, 1, c, h * w]);
    let [k, v] = chunk(this.kvDw.forward(this.kv.forward(z)), 2, 1).map((t) =>
      reshape(t, [b, 1, n, h * w])
    );
    if (this.c.pimNormalize) {
      q = l2Normalize(q);
      k = l2Normalize(k);
    }
    const av = this.c.pimSoftmax === "prior"
      ? matmul(softmax(mul(matmul(q, k, false, true), this.temperature)), v) // A [b,1,C,N]
      : matmul(softmax(mul(matmul(k, q, false, true), this.temperature)), v, true); // A [b,1,N,C]
    return this.projectOut.forward(reshape(av, [b, c, h, w]));
  }

  forward(f: Tensor, z: Tensor): Tensor {
    const [b, , h, w] = f.shape;
    if (z.rank !== 4 || z.shape[0] !== b || z.shape[2] !== h || z.shape[3] !== w) {
      throw new ShapeError(
        `PIM: prior ${fmt(z.shape)} does not match pooled features ${fmt(f.shape)}`,
      );
    }
    if (!this.ffn) return add(this.#attend(f, z), f);
    const y = add(this.#attend(this.norm1!.forward(f), z), f);
    return add(y, this.ffn.forward(this.norm2!.forward(y)));
  }
}

export class PIM extends FrequencySplit {
  cross: PriorCrossAttention;

  constructor(c: LFDiffConfig, rng?: Rng) {
    super(c, c.pimPool, rng);
    this.cross = new PriorCrossAttention(c.channels, c.priorChannels, c, rng);
  }

  forward(x: Tensor, z: Tensor): Tensor {
    return this.split(x, (low) => this.cross.forward(low, z));
  }
}
