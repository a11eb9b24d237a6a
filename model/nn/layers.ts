// The basic layers, with PyTorch's parameter names and default initialisations.

import { add } from "../../ops/arith.ts";
import { conv2d, type Conv2dOptions } from "../../ops/conv.ts";
import { reshape, transpose } from "../../ops/layout.ts";
import { matmul } from "../../ops/matmul.ts";
import { layerNorm2d } from "../../ops/norm.ts";
import type { Rng } from "../../ops/rng.ts";
import { fmt, ShapeError } from "../../ops/shape.ts";
import { full, type Tensor } from "../../ops/tensor.ts";
import { fanIn, uniformInit } from "./init.ts";
import { Module, parameter } from "./module.ts";

export interface Conv2dConfig extends Conv2dOptions {
  bias?: boolean;
  rng?: Rng;
  device?: string;
}

/** nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias) */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly options: Conv2dOptions;

  constructor(cin: number, cout: number, kernel: number | [number, number], c: Conv2dConfig = {}) {
    super();
    const [kh, kw] = typeof kernel === "number" ? [kernel, kernel] : kernel;
    const groups = c.groups ?? 1;
    if (cin % groups !== 0 || cout % groups !== 0) {
      throw new ShapeError(`Conv2d: ${cin}→${cout} channels not divisible by groups=${groups}`);
    }
    const shape = [cout, cin / groups, kh, kw];
    const bound = 1 / Math.sqrt(fanIn(shape));
    this.weight = parameter(uniformInit(shape, bound, c.rng, c.device));
    this.bias = c.bias === false ? null : parameter(uniformInit([cout], bound, c.rng, c.device));
    this.options = {
      stride: c.stride,
      padding: c.padding,
      dilation: c.dilation,
      groups,
      activation: c.activation,
    };
  }

  /** `add`, of the output's shape, is added to it in the same pass (a fused residual). */
  forward(x: Tensor, add: Tensor | null = null): Tensor {
    return conv2d(x, this.weight, this.bias, this.options, add);
  }
}

/** nn.Linear(in, out): x [..., in] → [..., out] */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(inF: number, outF: number, c: { bias?: boolean; rng?: Rng; device?: string } = {}) {
    super();
    const bound = 1 / Math.sqrt(inF);
    this.weight = parameter(uniformInit([outF, inF], bound, c.rng, c.device));
    this.bias = c.bias === false ? null : parameter(uniformInit([outF], bound, c.rng, c.device));
  }

  forward(x: Tensor): Tensor {
    const [outF, inF] = this.weight.shape;
    if (x.shape.at(-1) !== inF) {
      throw new ShapeError(`Linear: input ${fmt(x.shape)} for in_features ${inF}`);
    }
    const y = matmul(reshape(x, [-1, inF]), transpose(this.weight, 0, 1));
    const yb = this.bias ? add(y, this.bias) : y;
    return reshape(yb, [...x.shape.slice(0, -1), outF]);
  }
}

/**
 * Layer norm across channels at each pixel of an NCHW tensor (Restormer's LayerNorm:
 * `WithBias` by default, `BiasFree` with bias: false). Weight 1, bias 0 at start.
 */
export class LayerNorm2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly eps: number;

  constructor(channels: number, c: { bias?: boolean; eps?: number; device?: string } = {}) {
    super();
    this.weight = parameter(full([channels], 1, { device: c.device }));
    this.bias = c.bias === false ? null : parameter(full([channels], 0, { device: c.device }));
    this.eps = c.eps ?? 1e-5;
  }

  forward(x: Tensor): Tensor {
    return layerNorm2d(x, this.weight, this.bias, this.eps);
  }
}
