// Random batches and settings for the tests that take single trainer steps
// (tests/lfdiff_training_test.ts, tests/data_parallel_test.ts).

import type { TrainBatch, TrainSettings } from "@lfdiff/model/trainer.ts";
import * as T from "@lfdiff/ops/mod.ts";

/** n crops of 16×16, uniform in [0, 1): three 6-channel inputs, then the ground truth. */
export function randomBatch(rng: T.Rng, n: number): TrainBatch {
  const t = (c: number) => T.tensor(rng.uniform(n * c * 16 * 16), [n, c, 16, 16]);
  return { x: [t(6), t(6), t(6)], gt: t(3) };
}

/** Stage 1 with no perceptual term (λ = 0), so no VGG weights are needed. */
export const STAGE1: TrainSettings = {
  stage: 1,
  lr: 1e-3,
  lrStepEpochs: 50,
  lrGamma: 0.1,
  lambda: 0,
  seed: 0,
};
