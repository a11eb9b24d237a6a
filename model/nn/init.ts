// PyTorch's default initialisations. Conv2d and Linear use kaiming_uniform_(a=√5) for the
// weight, which is U(−1/√fan_in, 1/√fan_in), and the same bound for the bias.

import { defaultRng, type Rng } from "../../ops/rng.ts";
import { tensor } from "../../ops/tensor.ts";
import type { Tensor } from "../../ops/tensor.ts";
import { sizeOf } from "../../ops/shape.ts";

export function uniformInit(
  shape: readonly number[],
  bound: number,
  rng: Rng = defaultRng(),
  device?: string,
): Tensor {
  return tensor(rng.uniform(sizeOf(shape), -bound, bound), shape, { device });
}

/** fan_in of a weight [out, in, ...kernel] */
export function fanIn(shape: readonly number[]): number {
  return sizeOf(shape.slice(1));
}
