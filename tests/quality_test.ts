// The shipped model still deghosts: on six small brackets made only from radiance maps the
// training never saw (tests/fixtures/heldout), it must beat the classic reference-guided
// merge by a margin on PSNR-μ. A change that breaks the model (weights, architecture,
// inputs, the engine) breaks this test. Measured (`deno task eval --data tests/fixtures/heldout
// --anchor off`, and `--method merge`): 32.09 against 27.70 dB. The test asks for 3.5 dB of that
// 4.39, so float noise cannot flip it and a model that lost a fifth of its lead fails. Under
// bf16 precision (ops/precision.ts) the model must score within 0.05 dB of fp32 on the same
// brackets (skipped, saying why, on a CPU without bf16). The previous default (v1) must still
// load and beat the merge, and holding its darker output to the reference's tone
// (imaging/anchor.ts) must gain PSNR-μ: the hold is there for a network whose tone drifts.

import { findScenes, loadScene } from "@lfdiff/datasets/dataset.ts";
import { anchorToReference } from "@lfdiff/imaging/anchor.ts";
import { mergeBracket } from "@lfdiff/imaging/merge.ts";
import { hdrMetrics } from "@lfdiff/imaging/metrics.ts";
import { loadLFDiff } from "@lfdiff/model/checkpoint.ts";
import { fuseBracket } from "@lfdiff/model/fuse.ts";
import { type Precision, withPrecision } from "@lfdiff/ops/precision.ts";
import { assert } from "./assert.ts";
import { bf16Unavailable } from "./golden.ts";

const SHIPPED = new URL("../weights/lfdiff-small.safetensors", import.meta.url).pathname;
/** The previous default (weights/MODEL_CARD.md); measured 31.37 dB here, the merge 27.70. */
const V1 = new URL("../weights/lfdiff-small-v1.safetensors", import.meta.url).pathname;
const V1_MEASURED = 31.37;
const HELD_OUT = new URL("./fixtures/heldout", import.meta.url).pathname;
/** Measured: the shipped model ahead of the merge by MEASURED dB; the test asks for MARGIN. */
const MEASURED = 4.39;
const MARGIN = 3.5;

/**
 * Holding v1's result to the reference's tone (imaging/anchor.ts) gained ANCHOR_MEASURED dB
 * PSNR-μ here (31.37 → 31.62; these brackets' cameras vary their response, so the reference's
 * own tone is off by as much as the network's); the test asks for half of it. The default's
 * tone hardly drifts: held, it measured 32.09 → 32.06.
 */
const ANCHOR_MEASURED = 0.24, ANCHOR_DB = 0.12;

/** bf16 may cost the shipped model this much PSNR-μ on the held-out brackets. */
const BF16_DB = 0.05;

/** A model's mean PSNR-μ under precision p, the merge's, and its first output. */
async function heldOut(p: Precision, weights = SHIPPED) {
  const model = await loadLFDiff(weights);
  const scenes = await findScenes(HELD_OUT, "test");
  assert(scenes.length === 6, `${scenes.length} held-out scenes`);
  let ours = 0, anchored = 0, merge = 0, first: Float32Array | null = null;
  for (const info of scenes) {
    const s = await loadScene(info);
    const { hdr } = withPrecision(p, () => fuseBracket(model, s.ldrs, { evs: s.evs, seed: 0 }));
    first ??= hdr.data;
    const net = { ...hdr, bitDepth: 32 };
    ours += hdrMetrics(net, s.gt!).psnrMu / scenes.length;
    const held = anchorToReference(net, s.ldrs[1], s.evs[1] - Math.min(...s.evs)).hdr;
    anchored += hdrMetrics(held, s.gt!).psnrMu / scenes.length;
    merge += hdrMetrics(mergeBracket(s.ldrs, s.evs), s.gt!).psnrMu / scenes.length;
  }
  return { ours, anchored, merge, first: first! };
}
const fp32 = heldOut("fp32");
fp32.catch(() => {}); // a failure is reported by the tests that await it
const v1 = heldOut("fp32", V1);
v1.catch(() => {});

Deno.test("the shipped model beats the classic merge on held-out brackets", async () => {
  const { ours, merge } = await fp32;
  assert(
    ours - merge >= MARGIN,
    `PSNR-μ ${ours.toFixed(2)} dB vs the merge's ${merge.toFixed(2)} dB: ahead by ${
      (ours - merge).toFixed(2)
    } dB, the test asks for ${MARGIN} (measured ${MEASURED})`,
  );
});

Deno.test("the previous default (v1) still loads and beats the classic merge", async () => {
  const { ours, merge } = await v1;
  assert(
    ours - merge >= 3 && ours > V1_MEASURED - 0.05,
    `v1: PSNR-μ ${ours.toFixed(2)} dB vs the merge's ${merge.toFixed(2)} (measured ${V1_MEASURED})`,
  );
});

Deno.test("holding v1's darker result to the reference's tone gains PSNR-μ", async () => {
  const { ours, anchored } = await v1;
  assert(
    anchored - ours >= ANCHOR_DB,
    `PSNR-μ ${anchored.toFixed(3)} dB held to the reference against ${ours.toFixed(3)} dB ` +
      `(the test asks for +${ANCHOR_DB}, measured +${ANCHOR_MEASURED})`,
  );
});

Deno.test({
  name: `the shipped model in bf16 scores within ${BF16_DB} dB of fp32 on held-out brackets`,
  ignore: bf16Unavailable() !== null,
  fn: async () => {
    const [a, b] = [await fp32, await heldOut("bf16")];
    assert(a.first.some((v, i) => v !== b.first[i]), "bf16 gave fp32's output bit for bit");
    assert(
      Math.abs(a.ours - b.ours) <= BF16_DB,
      `PSNR-μ ${b.ours.toFixed(3)} dB in bf16 against ${a.ours.toFixed(3)} in fp32`,
    );
  },
});
