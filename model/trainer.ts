// LF-Diff's two training stages (§4.1, §4.2) as optimiser steps; the data and validation
// come from the caller (tools/train.ts wires io's loader and metrics), so model/ stays
// free of file formats.
//   stage 1:      LFDiff "s1" — z = LPENet(gt);  L = L_r(DHRNet(AM(X), z), gt)
//                 (or "baseline", Table 3's first row: no prior, L = L_r(DHRNet(AM(X)), gt))
//   stage 2 joint (s2, Eq. 15): teacher z = LPENet_stage1(gt) (frozen); D = LPENet_DM(X);
//                 L = ‖ε − ε_θ(z_t, D, t)‖² (t random per sample)
//                   + ‖ẑ − z‖₁ (ẑ = S DDIM steps with gradient from z_T ~ q(z_T | z))
//                   + L_r(DHRNet(AM(X), ẑ), gt)
//   stage 2 split: only LPENet_DM and the denoiser train, on the first two terms
//   stage 2 s2-no-dm: ẑ = D directly;  L = ‖D − z‖₁ + L_r
//   L_r = ‖T(H) − T(Ĥ)‖₁ + λ‖φ(T(H)) − φ(T(Ĥ))‖₁  (φ: VGG19, when weights are given)
// Gradient accumulation averages the loss over micro-batches before one Adam step. Under
// data parallelism (model/data_parallel.ts) a batch is this rank's share of a global one:
// its loss counts by its share, the random draws are the global batch's, and the gradients
// are summed over the ranks before the step.

import { add, affine } from "../ops/arith.ts";
import { noGrad } from "../ops/autograd.ts";
import { l1Loss, mseLoss } from "../ops/loss.ts";
import { Rng } from "../ops/rng.ts";
import { scope } from "../ops/scope.ts";
import { type Tensor, tensor, zeros } from "../ops/tensor.ts";
import type { LFDiff } from "./lfdiff.ts";
import { reconstructionLoss } from "./losses.ts";
import type { GtPriorNet } from "./lpenet.ts";
import { Adam } from "./optim/adam.ts";
import { StepLR } from "./optim/step_lr.ts";
import type { Vgg19Features } from "./vgg.ts";
import type { HostTensor } from "../io/safetensors.ts";
import type { DataParallel } from "./data_parallel.ts";
import type { Share } from "../datasets/loader.ts";

export type Stage2Mode = "joint" | "split" | "no-dm";

export interface TrainSettings {
  stage: 1 | 2;
  /** Stage 2 only. */
  mode?: Stage2Mode;
  /**
   * Joint stage 2: steps at the start during which only the diffusion model trains (as in
   * split), so that the DHRNet first meets a prior near the one it learnt from, not the
   * untrained DM's (which it otherwise learns to ignore). L_r is still reported.
   */
  warmup?: number;
  lr: number;
  /** LR × gamma every `lrStepEpochs` epochs (paper: ×0.1 every 50). */
  lrStepEpochs: number;
  lrGamma: number;
  /** Perceptual weight λ (paper: 1e-2); used only with VGG weights. */
  lambda: number;
  seed: number;
}

export interface TrainBatch {
  x: [Tensor, Tensor, Tensor];
  gt: Tensor;
  /** This rank's rows of the global micro-batch (data-parallel training; absent: all). */
  share?: Share;
}

export type LossTerms = Record<string, number>;

export class Trainer {
  readonly opt: Adam;
  readonly sched: StepLR;
  /** Diffusion noise and timesteps; its state is checkpointed so a resume draws the same. */
  readonly rng: Rng;
  step = 0;
  epoch = 0;
  /** Batches of the current epoch already consumed (for resuming mid-epoch). */
  batchInEpoch = 0;
  /** Set when several processes train together: gradients are summed over them. */
  dataParallel: DataParallel | null = null;

  constructor(
    readonly model: LFDiff,
    readonly s: TrainSettings,
    readonly teacher: GtPriorNet | null = null,
    readonly vgg: Vgg19Features | null = null,
  ) {
    const v = model.config.variant;
    const mode = s.mode ?? "joint";
    if (s.stage === 1 && v !== "s1" && v !== "baseline") {
      throw new Error(`stage 1 trains the s1 or baseline variant, not ${v}`);
    }
    if (s.stage === 2) {
      if (!teacher) throw new Error("stage 2 needs the stage-1 LPENet (a stage-1 checkpoint)");
      const want = mode === "no-dm" ? "s2-no-dm" : "s2";
      if (v !== want) throw new Error(`stage 2 ${mode} trains the ${want} variant, not ${v}`);
      teacher.setTrainable(false);
    }
    this.rng = new Rng(s.seed * 7 + 1);
    this.opt = new Adam(this.trainable(), { lr: s.lr });
    this.sched = new StepLR(this.opt, s.lrStepEpochs, s.lrGamma);
  }

  /** The parameters this stage and mode optimise (the rest are frozen). */
  trainable(): Tensor[] {
    const m = this.model;
    if (this.s.stage === 2 && this.s.mode === "split") {
      m.align.setTrainable(false);
      m.dhr.setTrainable(false);
      return [...m.lpeDm!.parameters(), ...m.denoiser!.parameters()];
    }
    return m.parameters();
  }

  #reconstruction(h: Tensor, gt: Tensor, terms: Record<string, Tensor>): Tensor {
    const r = reconstructionLoss(h, gt, this.vgg, this.s.lambda);
    Object.assign(terms, r.terms);
    return r.total;
  }

  /** The loss of one micro-batch, with its named terms. */
  loss(b: TrainBatch): { total: Tensor; terms: Record<string, Tensor> } {
    const m = this.model, [x1, x2, x3] = b.x;
    const terms: Record<string, Tensor> = {};
    if (this.s.stage === 1) {
      return {
        total: this.#reconstruction(m.forward(x1, x2, x3, { gt: b.gt }), b.gt, terms),
        terms,
      };
    }
    const draws = this.#draws(b);
    const z = noGrad(() => this.teacher!.forward(b.gt));
    const noise = (a: Float32Array) => tensor(a, z.shape, { device: z.device });
    const ts = draws?.ts ?? [];
    const eps = draws ? noise(draws.eps) : null;
    // The DM's space is z / priorScale; ẑ is sampled from z_T ~ q(z_T | z), as Eq. 15 trains it.
    const zn = affine(z, 1 / m.config.priorScale, 0);
    const zT = draws ? m.schedule.diffuse(zn, m.config.timesteps - 1, noise(draws.zT)) : undefined;
    const { z: zHat, d } = m.prior(x1, x2, x3, { zT });
    const parts: Tensor[] = [];
    if (eps) {
      terms.eps = mseLoss(m.denoiser!.forward(m.schedule.diffuse(zn, ts, eps), d!, ts), eps);
      parts.push(terms.eps);
    }
    terms.prior = l1Loss(zHat!, z);
    parts.push(terms.prior);
    if (this.#warming()) {
      noGrad(() => this.#reconstruction(m.reconstruct(x1, x2, x3, zHat!.detach()), b.gt, terms));
    } else if (this.s.mode !== "split") {
      parts.push(this.#reconstruction(m.reconstruct(x1, x2, x3, zHat), b.gt, terms));
    }
    return { total: parts.reduce((a, t) => add(a, t)), terms };
  }

  /**
   * Stage 2's timesteps and noises (for ε and z_T) of this batch's rows, or null where none
   * are drawn. The whole global batch's are drawn and the share's kept, so every rank's
   * stream stays the same and results do not depend on the number of ranks.
   */
  #draws(b: TrainBatch): { ts: number[]; eps: Float32Array; zT: Float32Array } | null {
    if (this.s.stage !== 2 || this.s.mode === "no-dm") return null;
    const c = this.model.config, [n, , h, w] = b.gt.shape;
    const { offset, total } = b.share ?? { offset: 0, total: n };
    const per = c.priorChannels * (h / c.unshuffle) * (w / c.unshuffle);
    const ts = Array.from({ length: total }, () => this.rng.int(c.timesteps));
    const rows = (a: Float32Array) => a.subarray(offset * per, (offset + n) * per);
    const eps = rows(this.rng.normal(total * per));
    return { ts: ts.slice(offset, offset + n), eps, zT: rows(this.rng.normal(total * per)) };
  }

  /** Joint stage 2 still in its warmup (only the diffusion model trains). */
  #warming(): boolean {
    return this.#joint() && this.step < (this.s.warmup ?? 0);
  }

  #joint(): boolean {
    return this.s.stage === 2 && this.s.mode === "joint";
  }

  /** One optimiser step over the micro-batches (their mean loss); returns the loss terms. */
  trainStep(micro: TrainBatch[]): LossTerms {
    this.sched.setEpoch(this.epoch);
    if (this.#joint()) {
      const trains = !this.#warming();
      this.model.align.setTrainable(trains);
      this.model.dhr.setTrainable(trains);
    }
    let sums: LossTerms = {};
    for (const b of micro) {
      // A share's mean loss counts by its part of the global batch (1 in a single process).
      const part = b.share ? b.gt.shape[0] / b.share.total : 1;
      if (part === 0) {
        this.#draws(b); // the rank's stream moves on as the others' do
        continue;
      }
      scope(() => {
        const { total, terms } = this.loss(b);
        affine(total, part / micro.length, 0).backward();
        sums.loss = (sums.loss ?? 0) + total.item() * part / micro.length;
        for (const [k, v] of Object.entries(terms)) {
          sums[k] = (sums[k] ?? 0) + v.item() * part / micro.length;
        }
      });
    }
    if (this.dataParallel) sums = this.dataParallel.reduce(this.opt.params, sums);
    this.opt.update();
    this.opt.zeroGrad();
    this.step++;
    return sums;
  }

  /** Optimiser state and counters for a checkpoint (the weights are saved separately). */
  state(): { tensors: Map<string, HostTensor>; meta: Record<string, string> } {
    const tensors = new Map<string, HostTensor>();
    const names = new Map(this.model.namedParameters().map(([n, p]) => [p, n]));
    for (const [p, { m, v }] of this.opt.moments) {
      const n = names.get(p)!;
      tensors.set(`adam.m.${n}`, { shape: [...m.shape], data: m.toArray() });
      tensors.set(`adam.v.${n}`, { shape: [...v.shape], data: v.toArray() });
    }
    if (this.teacher) {
      for (const [n, p] of this.teacher.namedParameters()) {
        tensors.set(`teacher.${n}`, { shape: [...p.shape], data: p.toArray() });
      }
    }
    const meta = {
      step: String(this.step),
      epoch: String(this.epoch),
      batchInEpoch: String(this.batchInEpoch),
      adamStep: String(this.opt.step),
      rng: JSON.stringify(this.rng.state),
    };
    return { tensors, meta };
  }

  restore(tensors: Map<string, HostTensor>, meta: Record<string, string>): void {
    const byName = new Map(this.model.namedParameters());
    for (const [key, t] of tensors) {
      const m = /^adam\.(m|v)\.(.*)$/.exec(key);
      if (!m) continue;
      const p = byName.get(m[2]);
      if (!p) throw new Error(`optimiser state for unknown parameter ${m[2]}`);
      let st = this.opt.moments.get(p);
      if (!st) {
        st = {
          m: zeros(p.shape, { device: p.device }).keep(),
          v: zeros(p.shape, { device: p.device }).keep(),
        };
        this.opt.moments.set(p, st);
      }
      const dst = m[1] === "m" ? st.m : st.v;
      dst.backend.upload(dst.buffer, t.data);
    }
    if (this.teacher) {
      this.teacher.loadStateDict(
        new Map(
          [...tensors].filter(([k]) => k.startsWith("teacher.")).map(([k, v]) => [k.slice(8), v]),
        ),
      );
    }
    this.step = Number(meta.step);
    this.epoch = Number(meta.epoch);
    this.batchInEpoch = Number(meta.batchInEpoch);
    this.opt.step = Number(meta.adamStep);
    this.rng.state = JSON.parse(meta.rng);
  }
}

/**
 * The standard deviation of the teacher's prior z over some ground truths: stage 2's
 * priorScale, so that the diffusion model sees a prior of unit scale.
 */
export function priorStd(teacher: GtPriorNet, gts: Tensor[]): number {
  let n = 0, s = 0, s2 = 0;
  for (const gt of gts) {
    const z = scope(() => noGrad(() => teacher.forward(gt).toArray()));
    for (const v of z) (s += v), (s2 += v * v);
    n += z.length;
  }
  const mean = s / n;
  return Math.sqrt(Math.max(s2 / n - mean * mean, 1e-12));
}

/** A stage-1 checkpoint's LPENet as the frozen stage-2 teacher. */
export function teacherFrom(stage1: LFDiff): GtPriorNet {
  if (!stage1.gtPrior) throw new Error("the stage-2 teacher comes from a stage-1 (s1) checkpoint");
  return stage1.gtPrior;
}
