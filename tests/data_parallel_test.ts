// Data parallelism without a launcher: the loader's shards of a batch are the batch, in
// order, for any number of ranks; DataParallel sums gradients bucket by bucket (each
// parameter's gradient comes back whole, whichever bucket it fell in, and one missing here
// but present on another rank is made); the trainer weights a share's loss by its part of the
// global batch. Training under mpirun is tests/mpi_test.ts.

import { synthesizeScene, writeScene } from "@lfdiff/datasets/synth.ts";
import { findScenes } from "@lfdiff/datasets/dataset.ts";
import { type Batch, CropLoader, shareOf } from "@lfdiff/datasets/loader.ts";
import { DataParallel } from "@lfdiff/model/data_parallel.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { TINY } from "@lfdiff/model/config.ts";
import { Trainer } from "@lfdiff/model/trainer.ts";
import type { Communicator } from "@lfdiff/ops/collectives.ts";
import type { Backend, DeviceBuffer } from "@lfdiff/ops/backend.ts";
import * as T from "@lfdiff/ops/mod.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";
import { randomBatch, STAGE1 } from "./trainer_inputs.ts";

Deno.test("shares of a batch cover it in order, the first total % size one larger", () => {
  for (const [total, size] of [[8, 2], [5, 2], [1, 2], [7, 3], [3, 4]]) {
    const shares = [...Array(size).keys()].map((r) => shareOf(total, r, size));
    let next = 0;
    for (const s of shares) strictEqual(s.offset, next), next += s.count;
    strictEqual(next, total);
    assert(shares.every((s) => s.count - shares.at(-1)!.count <= 1), `${total}/${size}`);
    assert(shares[0].count >= 1, "rank 0 always has a share");
  }
});

Deno.test("the loader's shards of every batch are that batch's rows, for 2 and 3 ranks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (let i = 0; i < 2; i++) {
      await writeScene(
        `${dir}/Training/00${i + 1}`,
        synthesizeScene({ width: 80, height: 48, seed: i }),
      );
    }
    const scenes = await findScenes(dir, "train");
    const o = { size: 32, stride: 16, batch: 5, seed: 4 };
    const epoch = async (l: CropLoader) => {
      const out: Batch[] = [];
      for await (const b of l.epoch(1)) out.push(b);
      return out;
    };
    const whole = await epoch(new CropLoader(scenes, o));
    for (const size of [2, 3]) {
      const shards = await Promise.all(
        [...Array(size).keys()].map((rank) =>
          epoch(new CropLoader(scenes, { ...o, shard: { rank, size } }))
        ),
      );
      whole.forEach((b, i) => {
        const parts = shards.map((s) => s[i]);
        assertEquals(parts.flatMap((p) => p.ids), b.ids);
        assertEquals(
          parts.map((p) => p.share!.offset),
          parts.map((_, r) => shareOf(b.ids.length, r, size).offset),
        );
        assert(parts.every((p) => p.share!.total === b.ids.length));
        const joined = parts.flatMap((p) => [...p.gt.toArray()]);
        assertEquals(joined, [...b.gt.toArray()]);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Rank 0 of two, the other rank's contribution simulated: every parameter has a gradient of
 * ones there, and its loss terms equal ours.
 */
class OtherRankOfOnes implements Communicator {
  readonly rank = 0;
  readonly size = 2;
  readonly description = "rank 0 of 2, the other simulated";
  calls = 0;
  constructor(readonly parameters: number) {}
  allreduce(backend: Backend, buf: DeviceBuffer, count: number): void {
    this.calls++;
    const host = backend.download(buf);
    for (let i = 0; i < count; i++) host[i] += 1;
    backend.upload(buf, host);
  }
  allreduceHost(a: Float64Array): void {
    for (let i = 0; i < a.length; i++) a[i] += i < this.parameters ? 1 : a[i];
  }
  broadcastHost(): void {}
  barrier(): void {}
  close(): void {}
}

Deno.test("gradients are summed bucket by bucket, each coming back whole", () => {
  const rng = new T.Rng(2);
  const sizes = [30, 50, 250, 20, 60, 10];
  const params = sizes.map((n) => T.tensor(rng.normal(n), [n]).requireGrad().keep());
  const grads = params.map((p, i) => i === 3 ? null : rng.normal(p.size));
  params.forEach((p, i) => p.grad = grads[i] && T.tensor(grads[i]!, [p.size]).keep());
  const comm = new OtherRankOfOnes(params.length);
  const terms = new DataParallel(comm, 100).reduce(params, { loss: 0.5, l1: 0.25 });
  assertEquals(terms, { loss: 1, l1: 0.5 });
  // Buckets of at most 100 floats: [30, 50], [250] alone, [20, 60, 10].
  strictEqual(comm.calls, 3);
  params.forEach((p, i) => {
    const want = grads[i] ? grads[i]!.map((g) => g + 1) : new Float32Array(p.size).fill(1);
    assertEquals([...p.grad!.toArray()], [...want], `parameter ${i}`);
  });
});

Deno.test("a share's loss counts by its part of the global batch", () => {
  const batch = randomBatch(new T.Rng(3), 2);
  const step = (share?: { offset: number; total: number }) =>
    new Trainer(new LFDiff({ ...TINY, variant: "s1" }, new T.Rng(1)), STAGE1)
      .trainStep([{ ...batch, share }]);
  const whole = step(), half = step({ offset: 2, total: 4 });
  assert(Math.abs(half.loss - whole.loss / 2) < 1e-7 * whole.loss, `${half.loss} ${whole.loss}`);
});
