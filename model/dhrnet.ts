// Dynamic HDR Reconstruction Network (§4.1, Eq. 10).
//   y = F0; each reconstruction block: y = FRM^n(PIM(y, z)) + y   (PIM → FRM in `baseline`)
//   Ĥ = act(conv3×3(conv3×3(y) + S))     S = F0, or the reference's features (config.globalSkip)
// The block and global residuals and the conv before the last are not in the paper; they
// follow CA-ViT/SwinIR (and AHDRNet for S = F_2), whose trunks LF-Diff's resembles.
//   F0, S [B, C, H, W], z [B, N, H/4, W/4] → Ĥ [B, 3, H, W]

import { add } from "../ops/arith.ts";
import { chain } from "../ops/autograd.ts";
import type { Rng } from "../ops/rng.ts";
import type { Tensor } from "../ops/tensor.ts";
import { sigmoid } from "../ops/unary.ts";
import { float32 } from "../ops/precision.ts";
import type { LFDiffConfig } from "./config.ts";
import { FRM } from "./frm.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";
import { PIM } from "./pim.ts";

/** PIM(x, z) then n FRMs, plus the block residual. */
export class ReconstructionBlock extends Module {
  pim: PIM;
  frms: FRM[];

  constructor(c: LFDiffConfig, frms: number, rng?: Rng) {
    super();
    this.pim = new PIM(c, rng);
    this.frms = Array.from({ length: frms }, () => new FRM(c, rng));
  }

  forward(x: Tensor, z: Tensor): Tensor {
    return chain(x, [
      (y) => this.pim.forward(y, z),
      ...this.frms.map((m) => (y: Tensor) => m.forward(y)),
      (y) => add(y, x),
    ]);
  }
}

/** The `baseline` block of Table 3: the PIM's place is taken by an FRM (no prior). */
export class BaselineBlock extends Module {
  frms: FRM[];

  constructor(c: LFDiffConfig, frms: number, rng?: Rng) {
    super();
    this.frms = Array.from({ length: frms + 1 }, () => new FRM(c, rng));
  }

  forward(x: Tensor): Tensor {
    return chain(x, [...this.frms.map((m) => (y: Tensor) => m.forward(y)), (y) => add(y, x)]);
  }
}

export class DHRNet extends Module {
  blocks: (ReconstructionBlock | BaselineBlock)[];
  convAfter: Conv2d;
  convLast: Conv2d;

  constructor(readonly c: LFDiffConfig, readonly usePrior: boolean, rng?: Rng) {
    super();
    this.blocks = c.blocks.map((n) =>
      usePrior ? new ReconstructionBlock(c, n, rng) : new BaselineBlock(c, n, rng)
    );
    this.convAfter = new Conv2d(c.channels, c.channels, 3, { padding: 1, rng });
    this.convLast = new Conv2d(c.channels, 3, 3, { padding: 1, rng });
  }

  /** `onBlock(i, n)` reports progress after each reconstruction block. */
  forward(
    f0: Tensor,
    z: Tensor | null,
    skip: Tensor = f0,
    onBlock?: (done: number, total: number) => void,
  ): Tensor {
    if (this.usePrior && !z) throw new Error("DHRNet: this variant needs a prior z");
    const y = chain(
      f0,
      this.blocks.map((b, i) => (y: Tensor) => {
        const out = b instanceof ReconstructionBlock ? b.forward(y, z!) : b.forward(y);
        onBlock?.(i + 1, this.blocks.length);
        return out;
      }),
    );
    // Ĥ in fp32 under bf16: clipped highlights are 1 in the ground truth, and bf16 holds
    // nothing between 0.996 and 1, where the sigmoid's y(1 − y) has no digits left.
    const out = float32(this.convLast.forward(this.convAfter.forward(y, skip)));
    return this.c.endActivation === "sigmoid" ? sigmoid(out) : out;
  }
}
