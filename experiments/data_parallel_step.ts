// The data-parallel training step, timed: a stage-1 experiment's steps as tools/train.ts
// runs them (each rank's share of the global batch, gradients summed over the ranks), the
// median and fastest step after two warm-up steps, and the median time of the gradient sum
// alone (one allreduce of every parameter, parameter count × 4 bytes). BATCH overrides the
// experiment's (global) batch. Alone, or under mpirun:
//   OMP_NUM_THREADS=2 deno run -A experiments/data_parallel_step.ts EXP.json DATA [STEPS [BATCH]]
//   mpirun -np 2 -x OMP_NUM_THREADS=1 deno run -A experiments/data_parallel_step.ts ...
// Rank 0 prints one JSON line: ranks, threads, batch, parameters, step and allreduce ms.

import { findScenes } from "../datasets/dataset.ts";
import { CropLoader } from "../datasets/loader.ts";
import { CONFIGS } from "../model/config.ts";
import { DataParallel } from "../model/data_parallel.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { Trainer } from "../model/trainer.ts";
import { openCommunicator } from "../ops/collectives.ts";
import { threadCount } from "../ops/cpu/threads.ts";
import { Rng } from "../ops/rng.ts";

const [experiment, data, stepsArg, batchArg] = Deno.args;
const x = JSON.parse(await Deno.readTextFile(experiment));
if (batchArg) x.batch = Number(batchArg);
const steps = Number(stepsArg ?? 12), warmup = 2;
const { comm } = openCommunicator("cpu");
const dp = new DataParallel(comm);
const model = new LFDiff({ ...CONFIGS[x.model], variant: x.variant ?? "s1" }, new Rng(x.seed));
const trainer = new Trainer(model, { ...x, stage: 1, lambda: 0 });
if (dp.size > 1) trainer.dataParallel = dp;
const loader = new CropLoader(await findScenes(data, "train"), {
  size: x.crop,
  stride: x.stride,
  batch: x.batch,
  seed: x.seed,
  shard: dp.size > 1 ? { rank: dp.rank, size: dp.size } : undefined,
});
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

const stepMs: number[] = [];
for (let epoch = 0; stepMs.length < steps + warmup; epoch++) {
  for await (const b of loader.epoch(epoch)) {
    dp.comm.barrier(); // every rank starts the step together
    const t0 = performance.now();
    trainer.trainStep([b]);
    stepMs.push(performance.now() - t0);
    if (stepMs.length === steps + warmup) break;
  }
}
const params = model.parameters();
const count = params.reduce((n, p) => n + p.size, 0);
const allreduceMs: number[] = [];
if (dp.size > 1) {
  const backend = params[0].backend, buf = backend.alloc(count);
  backend.fill(buf, 1);
  for (let i = 0; i < 20; i++) {
    dp.comm.barrier();
    const t0 = performance.now();
    dp.comm.allreduce(backend, buf, count);
    allreduceMs.push(performance.now() - t0);
  }
  backend.free(buf);
}
if (dp.isRoot) {
  console.log(JSON.stringify({
    ranks: dp.size,
    threads: threadCount(),
    batch: x.batch,
    parameters: count,
    stepMs: median(stepMs.slice(warmup)),
    fastestStepMs: Math.min(...stepMs.slice(warmup)),
    allreduceMs: allreduceMs.length ? median(allreduceMs) : null,
  }));
}
dp.comm.close();
