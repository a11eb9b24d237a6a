// A bracket's frames that the network did not read are evidence it never saw: where such a
// frame is well exposed, its radiance (the bracket's response undone, aligned as infer aligns)
// is a stand-in for the truth. Scores results against each such frame where the reference is
// dark (a channel below 0.08) and where it is well exposed but has a channel below 0.12:
// PSNR-μ and the per-channel ratio result / frame.
//   deno run -A experiments/shadows/heldout_frames.ts BRACKET_DIR RESULT.hdr…

import { readImage } from "../../io/codecs.ts";
import { toRgb } from "../../io/image.ts";
import { ANCHOR_LO } from "../../imaging/anchor.ts";
import { ldrToLinear } from "../../imaging/exposure.ts";
import { inConvention, prepareBracket } from "../../imaging/prepare.ts";
import {
  above,
  type RegionScore,
  regionScore,
  WELL_HI,
  wellExposed,
} from "../../imaging/regions.ts";
import { readBracket } from "../../model/pipeline.ts";

const [dir, ...results] = Deno.args;
if (!dir || !results.length) {
  console.error("usage: deno run -A experiments/shadows/heldout_frames.ts BRACKET_DIR RESULT.hdr…");
  Deno.exit(2);
}
const p = prepareBracket(await readBracket(dir), {});
const ref = p.ldrs[1], n = ref.width * ref.height;
const wellRef = wellExposed(ref), bright = above(ref, WELL_HI);
const outs = await Promise.all(results.map(async (f) => toRgb(await readImage(f))));
const show = (s: RegionScore | null) =>
  s ? `${s.psnrMu.toFixed(2)} [${s.ratio.map((x) => x.toFixed(2)).join(", ")}]` : "-";
for (const [j, frame] of p.aligned.entries()) {
  if (p.choice.indices.includes(j)) continue;
  const f = inConvention(frame, p), wellF = wellExposed(f), truth = ldrToLinear(f, p.alignedEvs[j]);
  const dark = new Uint8Array(n), low = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!wellF[i] || bright[i]) continue;
    if (!wellRef[i]) dark[i] = 1;
    else if (Math.min(ref.data[i * 3], ref.data[i * 3 + 1], ref.data[i * 3 + 2]) < ANCHOR_LO) {
      low[i] = 1;
    }
  }
  const row = outs.map((o) =>
    `dark ${show(regionScore(o, truth, dark))}, low ${show(regionScore(o, truth, low))}`
  );
  console.log(`frame ${j + 1} (EV ${p.alignedEvs[j].toFixed(1)}): ${row.join(" | ")}`);
}
