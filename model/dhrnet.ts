// Dynamic HDR Reconstruction Network (§4.1, Eq. 10).
//   y = F0; each reconstruction block: y = FRM^n(PIM(y, z)) + y   (PIM → FRM in `baseline`)
//   Ĥ = act(conv3×3(conv3×3(y) + F0))
// The block and global residuals and the conv before the last are not in the paper; they
// follow CA-ViT/SwinIR, whose reconstruction trunks LF-Diff's resembles.
//   F0 [B, C, H, W], z [B, N, H/4, W/4] → Ĥ [B, 3, H, W]

import { add } from "../ops/arith.ts";
import { inferenceScope, release } from "../ops/autograd.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { sigmoid } from "../ops/unary.ts";
import type { LFDiffConfig } from "./config.ts";
import { FRM } from "./frm.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";
import { PIM } from "./pim.ts";

export class ReconstructionBlock extends Module {
  pim: PIM | FRM;
  frms: FRM[];

  constructor(c: LFDiffConfig, frms: number, usePrior: boolean, rng?: Rng) {
    super();
    this.pim = usePrior ? new PIM(c, rng) : new FRM(c, rng);
    this.frms = Array.from({ length: frms }, () => new FRM(c, rng));
  }

  forward(x: Tensor, z: Tensor | null): Tensor {
    let y = inferenceScope(
      () => (this.pim instanceof PIM ? this.pim.forward(x, z!) : this.pim.forward(x)),
    );
    for (const frm of this.frms) {
      const prev = y;
      y = inferenceScope(() => frm.forward(prev));
      release(prev);
    }
    const out = add(y, x);
    release(y);
    return out;
  }
}

export class DHRNet extends Module {
  blocks: ReconstructionBlock[];
  convAfter: Conv2d;
  convLast: Conv2d;

  constructor(readonly c: LFDiffConfig, readonly usePrior: boolean, rng?: Rng) {
    super();
    this.blocks = c.blocks.map((n) => new ReconstructionBlock(c, n, usePrior, rng));
    this.convAfter = new Conv2d(c.channels, c.channels, 3, { padding: 1, rng });
    this.convLast = new Conv2d(c.channels, 3, 3, { padding: 1, rng });
  }

  /** `onBlock(i, n)` reports progress after each reconstruction block. */
  forward(f0: Tensor, z: Tensor | null, onBlock?: (done: number, total: number) => void): Tensor {
    if (this.usePrior && !z) throw new Error("DHRNet: this variant needs a prior z");
    let y = f0;
    for (const [i, b] of this.blocks.entries()) {
      const prev = y;
      y = inferenceScope(() => b.forward(prev, z));
      if (prev !== f0) release(prev);
      onBlock?.(i + 1, this.blocks.length);
    }
    const out = inferenceScope(() => this.convLast.forward(add(this.convAfter.forward(y), f0)));
    release(y);
    return this.c.endActivation === "sigmoid" ? sigmoid(out) : out;
  }
}
