// The conditional denoiser ε_θ(cat(z_t, D), t) (§4.2, §5.1: a U-Net variant with 3 levels
// of {2,2,2} blocks). Ours: a head conv, per level `blocks` residual blocks with a timestep
// embedding (channel LayerNorm and SiLU in place of GroupNorm), stride-2 convs down,
// nearest ×2 + conv up with skip concatenation, and a norm/SiLU/conv tail.
//   z_t, D [B, N, h, w] (h, w divisible by 2^(levels−1)), t → ε̂ [B, N, h, w]

import { add } from "../ops/arith.ts";
import { concat, reshape } from "../ops/layout.ts";
import { upsample } from "../ops/resample.ts";
import type { Rng } from "../ops/rng.ts";
import { type Tensor, tensor } from "../ops/tensor.ts";
import { silu } from "../ops/unary.ts";
import type { LFDiffConfig } from "./config.ts";
import { Conv2d, LayerNorm2d, Linear } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";

/** DDPM's sinusoidal embedding of integer steps: [B] → [B, dim]. */
export function timestepEmbedding(ts: number[], dim: number, device?: string): Tensor {
  const half = dim / 2, out = new Float32Array(ts.length * dim);
  ts.forEach((t, b) => {
    for (let i = 0; i < half; i++) {
      const f = Math.exp((-Math.log(10000) * i) / half) * t;
      out[b * dim + i] = Math.sin(f);
      out[b * dim + half + i] = Math.cos(f);
    }
  });
  return tensor(out, [ts.length, dim], { device });
}

export class UResBlock extends Module {
  norm1: LayerNorm2d;
  conv1: Conv2d;
  temb: Linear;
  norm2: LayerNorm2d;
  conv2: Conv2d;
  skip: Conv2d | null;

  constructor(cin: number, cout: number, embDim: number, rng?: Rng) {
    super();
    this.norm1 = new LayerNorm2d(cin);
    this.conv1 = new Conv2d(cin, cout, 3, { padding: 1, rng });
    this.temb = new Linear(embDim, cout, { rng });
    this.norm2 = new LayerNorm2d(cout);
    this.conv2 = new Conv2d(cout, cout, 3, { padding: 1, rng });
    this.skip = cin === cout ? null : new Conv2d(cin, cout, 1, { rng });
  }

  forward(x: Tensor, emb: Tensor): Tensor {
    let h = this.conv1.forward(silu(this.norm1.forward(x)));
    h = add(h, reshape(this.temb.forward(silu(emb)), [x.shape[0], -1, 1, 1]));
    h = this.conv2.forward(silu(this.norm2.forward(h)));
    return add(h, this.skip ? this.skip.forward(x) : x);
  }
}

export class UNetLevel extends Module {
  blocks: UResBlock[];
  /** Encoder: stride-2 conv to the next level. Decoder: conv after ×2 upsampling. */
  resample: Conv2d | null;

  constructor(blocks: UResBlock[], resample: Conv2d | null) {
    super();
    this.blocks = blocks;
    this.resample = resample;
  }
}

export class Denoiser extends Module {
  timeIn: Linear;
  timeOut: Linear;
  head: Conv2d;
  enc: UNetLevel[];
  dec: UNetLevel[];
  tailNorm: LayerNorm2d;
  tail: Conv2d;
  readonly embDim: number;

  constructor(readonly c: LFDiffConfig, rng?: Rng) {
    super();
    const ch = c.unetChannels, base = ch[0], emb = 4 * base, L = ch.length;
    this.embDim = emb;
    this.timeIn = new Linear(base, emb, { rng });
    this.timeOut = new Linear(emb, emb, { rng });
    this.head = new Conv2d(2 * c.priorChannels, base, 3, { padding: 1, rng });
    this.enc = ch.map((cl, l) => {
      const blocks = Array.from(
        { length: c.unetBlocks[l] },
        (_, i) => new UResBlock(i === 0 ? ch[Math.max(l - 1, 0)] : cl, cl, emb, rng),
      );
      return new UNetLevel(
        blocks,
        l < L - 1 ? new Conv2d(cl, cl, 3, { stride: 2, padding: 1, rng }) : null,
      );
    });
    this.dec = ch.map((cl, l) => {
      const blocks = Array.from(
        { length: c.unetBlocks[l] },
        (_, i) => new UResBlock(i === 0 ? 2 * cl : cl, cl, emb, rng),
      );
      return new UNetLevel(
        blocks,
        l < L - 1 ? new Conv2d(ch[l + 1], cl, 3, { padding: 1, rng }) : null,
      );
    });
    this.tailNorm = new LayerNorm2d(base);
    this.tail = new Conv2d(base, c.priorChannels, 3, { padding: 1, rng });
  }

  /** ε̂ for noisy priors zt at integer steps ts (one per batch entry), conditioned on d. */
  forward(zt: Tensor, d: Tensor, ts: number[]): Tensor {
    const base = this.c.unetChannels[0];
    const emb = this.timeOut.forward(
      silu(this.timeIn.forward(timestepEmbedding(ts, base, zt.device))),
    );
    let h = this.head.forward(concat([zt, d], 1));
    const skips: Tensor[] = [];
    for (const level of this.enc) {
      for (const b of level.blocks) h = b.forward(h, emb);
      skips.push(h);
      if (level.resample) h = level.resample.forward(h);
    }
    for (let l = this.dec.length - 1; l >= 0; l--) {
      const level = this.dec[l];
      if (level.resample) h = level.resample.forward(upsample(h, 2, "nearest"));
      h = concat([h, skips[l]], 1);
      for (const b of level.blocks) h = b.forward(h, emb);
    }
    return this.tail.forward(silu(this.tailNorm.forward(h)));
  }
}
