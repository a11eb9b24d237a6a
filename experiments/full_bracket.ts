// Real brackets of a still scene hold more frames than the network reads: the classic merge of
// all of them (the same estimated response and alignment as infer's) is a stand-in for ground
// truth. Scores each model's output (infer's pipeline, with and without the hold to the
// reference) and the three-frame merge against it: PSNR-μ / PSNR-L on values clamped to [0, 1]
// in the network's units, and the median ratio where the stand-in is neither black nor clipped.
//   deno run -A experiments/full_bracket.ts WEIGHTS[,WEIGHTS…] BRACKET_DIR…

import { inConvention, prepareBracket } from "../imaging/prepare.ts";
import { mergeBracket } from "../imaging/merge.ts";
import { hdrMetrics } from "../imaging/metrics.ts";
import type { Image } from "../io/image.ts";
import { loadLFDiff } from "../model/checkpoint.ts";
import { fusePrepared, readBracket } from "../model/pipeline.ts";

const [weights, ...dirs] = Deno.args;
const models = await Promise.all(weights.split(",").map((w) => loadLFDiff(w)));
const clamp = (img: Image, k = 1): Image => ({
  ...img,
  data: img.data.map((v) => Math.min(1, v * k)),
});
for (const dir of dirs) {
  const p = prepareBracket(await readBracket(dir), {});
  const all = p.aligned.map((f) => inConvention(f, p));
  // The merge is in units of the bracket's shortest frame, the network's in the shortest it read.
  const truth = clamp(
    mergeBracket(all, p.alignedEvs, p.choice.ref),
    2 ** -Math.min(...p.alignedEvs),
  );
  const score = (out: Image) => {
    const m = hdrMetrics(clamp(out), truth), r: number[] = [];
    truth.data.forEach((t, i) => t > 1e-3 && t < 0.99 && r.push(Math.min(1, out.data[i]) / t));
    r.sort((a, b) => a - b);
    return `${m.psnrMu.toFixed(2)} / ${m.psnrL.toFixed(2)} (ratio ${r[r.length >> 1].toFixed(2)})`;
  };
  const row = [`three-frame merge ${score(mergeBracket(p.ldrs, p.evs))}`];
  for (const [k, model] of models.entries()) {
    for (const anchor of [false, true]) {
      row.push(
        `model ${k + 1}${anchor ? " held" : ""} ${
          score(fusePrepared(model, p, { seed: 0, anchor }).hdr)
        }`,
      );
    }
  }
  console.log(
    `${dir}: frames ${p.choice.indices.join(",")} of ${all.length}\n  ${row.join("\n  ")}`,
  );
}
