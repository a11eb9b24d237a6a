// torch.optim.Adam (amsgrad off, L2 weight decay): one fused backend kernel per parameter.

import { noGrad } from "../../ops/autograd.ts";
import { zeros } from "../../ops/tensor.ts";
import type { Tensor } from "../../ops/tensor.ts";
import { keep } from "../../ops/scope.ts";

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken (PyTorch keeps one count per parameter; ours all step together). */
  step = 0;
  readonly moments = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(readonly params: Tensor[], o: AdamOptions = {}) {
    this.lr = o.lr ?? 1e-3;
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
  }

  /** Updates every parameter that has a gradient. */
  update(): void {
    this.step++;
    const bias1 = 1 - Math.pow(this.beta1, this.step), bias2 = 1 - Math.pow(this.beta2, this.step);
    noGrad(() => {
      for (const p of this.params) {
        if (!p.grad) continue;
        if (p.grad.size !== p.size) {
          throw new Error(`Adam: gradient [${p.grad.shape}] for parameter [${p.shape}]`);
        }
        let st = this.moments.get(p);
        if (!st) {
          st = {
            m: keep(zeros(p.shape, { device: p.device })),
            v: keep(zeros(p.shape, { device: p.device })),
          };
          this.moments.set(p, st);
        }
        p.backend.adam(p.buffer, p.grad.buffer, st.m.buffer, st.v.buffer, {
          lr: this.lr,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          weightDecay: this.weightDecay,
          bias1,
          bias2,
        });
      }
    });
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}
