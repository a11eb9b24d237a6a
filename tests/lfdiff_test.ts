// The whole model on small inputs: every variant runs, outputs have the input's size (any
// size, via padding), a seed fixes the result, gradients reach every parameter, and tiled
// inference agrees with whole-image inference.

import * as T from "@lfdiff/ops/mod.ts";
import { TINY, withVariant } from "@lfdiff/model/config.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { bracketInputs } from "@lfdiff/model/inputs.ts";
import { fuseBracket, type Pixels } from "@lfdiff/model/fuse.ts";
import { psnr } from "@lfdiff/imaging/metrics.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

function bracket(w: number, h: number, seed: number): Pixels[] {
  const rng = new T.Rng(seed);
  const base = rng.uniform(w * h * 3);
  return [0.25, 1, 4].map((k) => ({
    width: w,
    height: h,
    channels: 3,
    data: base.map((v) => Math.min(1, Math.pow(v * k, 1 / 2.2))),
  }));
}

for (const variant of ["baseline", "s1", "s2-no-dm", "s2"] as const) {
  Deno.test(`LF-Diff ${variant}: shape, gradients reach every parameter`, () => {
    T.scope(() => {
      const model = new LFDiff(withVariant(TINY, variant), new T.Rng(1));
      const rng = new T.Rng(2);
      const ldr = [0, 1, 2].map(() => T.rand([2, 3, 16, 16], rng));
      const [x1, x2, x3] = bracketInputs(ldr, [-2, 0, 2]);
      const out = model.forward(x1, x2, x3, {
        gt: T.rand([2, 3, 16, 16], rng),
        zT: T.randn([2, 3, 4, 4], rng),
      });
      assertEquals(out.shape, [2, 3, 16, 16]);
      assert(out.toArray().every((v) => v > 0 && v < 1), "sigmoid output in (0, 1)");
      T.sum(out).backward();
      const params = model.namedParameters();
      assertEquals(params.filter(([, p]) => !p.grad).map(([n]) => n), []);
      // A ReLU unit can be dead for one input, so a few gradients may be exactly zero.
      const zero = params.filter(([, p]) => p.grad!.toArray().every((v) => v === 0));
      assert(
        zero.length <= 0.03 * params.length,
        `zero gradients: ${zero.map(([n]) => n).join(", ")}`,
      );
    });
  });
}

Deno.test("fusion: any size in, same size out; a seed fixes the result; tiles agree with the whole", () => {
  const model = new LFDiff(TINY, new T.Rng(5));
  const frames = bracket(53, 37, 3); // not a multiple of 16
  const a = fuseBracket(model, frames, { evs: [-2, 0, 2], seed: 7 }).hdr;
  assertEquals([a.width, a.height, a.channels], [53, 37, 3]);
  const b = fuseBracket(model, frames, { evs: [-2, 0, 2], seed: 7 }).hdr;
  assertEquals(b.data, a.data);
  const c = fuseBracket(model, frames, { evs: [-2, 0, 2], seed: 8 }).hdr;
  assert(c.data.some((v, i) => v !== a.data[i]), "another seed draws another prior");
  const tiled = fuseBracket(model, frames, { evs: [-2, 0, 2], seed: 7, tile: 32, overlap: 16 }).hdr;
  const agreement = psnr(tiled.data, a.data);
  assert(agreement > 35, `tiled vs whole: ${agreement.toFixed(1)} dB`);
  assertThrows(
    () => fuseBracket(model, [frames[0], frames[1], bracket(50, 37, 1)[0]], { evs: [-2, 0, 2] }),
    /frame 3 is 50x37, the reference 53x37/,
  );
  assertThrows(
    () => fuseBracket(new LFDiff(withVariant(TINY, "s1")), frames, { evs: [-2, 0, 2] }),
    /s1 variant needs the ground truth/,
  );
});
