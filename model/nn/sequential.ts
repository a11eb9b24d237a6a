// nn.Sequential: layers applied in order, named by position as PyTorch names them (an
// activation or pool takes an index too, so torchvision's `features.N` names carry over).
// In inference each intermediate is freed as soon as the next layer has consumed it.
//   x → layer_{n−1}(… layer_0(x))

import { chain } from "../../ops/autograd.ts";
import type { Tensor } from "../../ops/tensor.ts";
import { Module } from "./module.ts";

export type Layer = Module & { forward(x: Tensor): Tensor } | ((x: Tensor) => Tensor);

export class Sequential extends Module {
  readonly layers: Layer[];

  constructor(layers: Layer[]) {
    super();
    this.layers = layers;
  }

  override namedParameters(prefix = ""): [string, Tensor][] {
    return this.layers.flatMap((l, i) =>
      l instanceof Module ? l.namedParameters(`${prefix}${i}.`) : []
    );
  }

  forward(x: Tensor): Tensor {
    return chain(x, this.layers.map((l) => l instanceof Module ? (y) => l.forward(y) : l));
  }
}
