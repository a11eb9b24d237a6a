// Restormer's transformer block (Zamir et al. 2022), the self-attention (SA) of FRM (§4.1).
//   x = x + MDTA(LN(x));  x = x + GDFN(LN(x))        x [B, C, H, W] → [B, C, H, W]
// MDTA: q, k, v from a 1×1 then 3×3 depthwise conv; per head, L2-normalised q and k over
//   pixels, attention across channels A = softmax(q·kᵀ · temperature) [C/h × C/h], A·v,
//   then a 1×1 projection. GDFN: 1×1 to 2·hidden, 3×3 depthwise, GELU(x1)·x2, 1×1 back.
// As in Restormer: convs without bias, LayerNorm with bias, temperature initialised to 1.

import { add, mul } from "../ops/arith.ts";
import { chain } from "../ops/autograd.ts";
import { chunk, reshape } from "../ops/layout.ts";
import { matmul } from "../ops/matmul.ts";
import { l2Normalize } from "../ops/norm.ts";
import type { Rng } from "../ops/rng.ts";
import { softmax } from "../ops/softmax.ts";
import { ones, type Tensor } from "../ops/tensor.ts";
import { gelu } from "../ops/unary.ts";
import { Conv2d, LayerNorm2d } from "./nn/layers.ts";
import { Module, parameter } from "./nn/module.ts";

export class MDTA extends Module {
  temperature: Tensor;
  qkv: Conv2d;
  qkvDw: Conv2d;
  projectOut: Conv2d;

  constructor(channels: number, readonly heads: number, rng?: Rng) {
    super();
    this.temperature = parameter(ones([heads, 1, 1]));
    this.qkv = new Conv2d(channels, 3 * channels, 1, { bias: false, rng });
    this.qkvDw = new Conv2d(3 * channels, 3 * channels, 3, {
      padding: 1,
      groups: 3 * channels,
      bias: false,
      rng,
    });
    this.projectOut = new Conv2d(channels, channels, 1, { bias: false, rng });
  }

  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape;
    const split = (t: Tensor) => reshape(t, [b, this.heads, c / this.heads, h * w]);
    const qkv = chain(x, [(t) => this.qkv.forward(t), (t) => this.qkvDw.forward(t)]);
    const [q, k, v] = chunk(qkv, 3, 1).map(split);
    const attn = softmax(
      mul(matmul(l2Normalize(q), l2Normalize(k), false, true), this.temperature),
    );
    return this.projectOut.forward(reshape(matmul(attn, v), [b, c, h, w]));
  }
}

export class GDFN extends Module {
  projectIn: Conv2d;
  dwconv: Conv2d;
  projectOut: Conv2d;

  constructor(channels: number, expansion: number, rng?: Rng) {
    super();
    const hidden = Math.floor(channels * expansion);
    this.projectIn = new Conv2d(channels, 2 * hidden, 1, { bias: false, rng });
    this.dwconv = new Conv2d(2 * hidden, 2 * hidden, 3, {
      padding: 1,
      groups: 2 * hidden,
      bias: false,
      rng,
    });
    this.projectOut = new Conv2d(hidden, channels, 1, { bias: false, rng });
  }

  forward(x: Tensor): Tensor {
    const h = chain(x, [(t) => this.projectIn.forward(t), (t) => this.dwconv.forward(t)]);
    const [x1, x2] = chunk(h, 2, 1);
    return this.projectOut.forward(mul(gelu(x1), x2));
  }
}

export class TransformerBlock extends Module {
  norm1: LayerNorm2d;
  attn: MDTA;
  norm2: LayerNorm2d;
  ffn: GDFN;

  constructor(channels: number, heads: number, expansion: number, rng?: Rng) {
    super();
    this.norm1 = new LayerNorm2d(channels);
    this.attn = new MDTA(channels, heads, rng);
    this.norm2 = new LayerNorm2d(channels);
    this.ffn = new GDFN(channels, expansion, rng);
  }

  forward(x: Tensor): Tensor {
    const y = chain(x, [
      (t) => this.norm1.forward(t),
      (t) => this.attn.forward(t),
      (t) => add(x, t),
    ]);
    return chain(y, [(t) => this.norm2.forward(t), (t) => this.ffn.forward(t), (t) => add(y, t)]);
  }
}
