// Where the gap between stage 1 (ground-truth prior) and stage 2 (diffusion prior) comes
// from: on held-out scenes, PSNR-μ of the stage-2 model with each prior its DHRNet could be
// given — the diffusion model's ẑ (what inference uses), the stage-1 teacher's z (the
// ground-truth prior), LPENet_DM's condition D, and zeros — plus the stage-1 model itself,
// and the statistics of z and ẑ.
//   deno run -A experiments/prior_gap.ts STAGE1.safetensors STAGE2.safetensors DATA [N]

import { findScenes, loadScene } from "../datasets/dataset.ts";
import { imageToTensor, tensorToImage } from "../io/image.ts";
import { hdrMetrics } from "../imaging/metrics.ts";
import { loadLFDiff } from "../model/checkpoint.ts";
import { sizeMultiple } from "../model/config.ts";
import { bracketInputs } from "../model/inputs.ts";
import * as T from "../ops/mod.ts";

const [s1Path, s2Path, data, count] = Deno.args;
const s1 = await loadLFDiff(s1Path, { variant: "s1" });
const s2 = await loadLFDiff(s2Path, { variant: "s2" });
const scenes = (await findScenes(data, "test")).filter((s) => s.gt).slice(0, Number(count ?? 12));
const m = sizeMultiple(s2.config);
const sums = new Map<string, number>();
const add = (k: string, v: number) => sums.set(k, (sums.get(k) ?? 0) + v / scenes.length);
const stats = (t: T.Tensor) => {
  const a = t.toArray();
  let s = 0, s2 = 0;
  for (const v of a) (s += v), (s2 += v * v);
  const mean = s / a.length;
  return { mean, std: Math.sqrt(Math.max(s2 / a.length - mean * mean, 0)) };
};
for (const info of scenes) {
  const scene = await loadScene(info);
  T.scope(() =>
    T.noGrad(() => {
      // Whole multiples of the network's size (a centre crop), so no padding blurs the priors.
      const { width: w, height: h } = scene.ldrs[1];
      const cw = Math.floor(w / m) * m, ch = Math.floor(h / m) * m;
      const crop = (t: T.Tensor) =>
        T.slice(
          T.slice(t, 2, (h - ch) >> 1, ((h - ch) >> 1) + ch),
          3,
          (w - cw) >> 1,
          ((w - cw) >> 1) + cw,
        );
      const [x1, x2, x3] = bracketInputs(scene.ldrs.map((l) => crop(imageToTensor(l))), scene.evs);
      const gt = crop(imageToTensor(scene.gt!));
      const gtImg = tensorToImage(gt);
      const k = s2.config.unshuffle;
      const psnr = (out: T.Tensor) => hdrMetrics(tensorToImage(out), gtImg).psnrMu;
      const zT = T.randn([1, s2.config.priorChannels, ch / k, cw / k], new T.Rng(0));
      const { z: zHat, d } = s2.prior(x1, x2, x3, { zT });
      const z = s1.gtPrior!.forward(gt);
      add("stage 1 (its own DHRNet, ground-truth prior)", psnr(s1.forward(x1, x2, x3, { gt })));
      add(
        "stage 1 with zeros for its prior",
        psnr(s1.reconstruct(x1, x2, x3, T.zeros([1, s1.config.priorChannels, ch / k, cw / k]))),
      );
      add("stage 2 with ẑ (diffusion prior, inference)", psnr(s2.reconstruct(x1, x2, x3, zHat)));
      add("stage 2 with z (teacher's ground-truth prior)", psnr(s2.reconstruct(x1, x2, x3, z)));
      add("stage 2 with D (LPENet_DM's condition)", psnr(s2.reconstruct(x1, x2, x3, d)));
      add("stage 2 with zeros", psnr(s2.reconstruct(x1, x2, x3, T.zeros(z.shape))));
      add("mean |ẑ − z|", T.mean(T.abs(T.sub(zHat!, z))).item());
      const sz = stats(z), sh = stats(zHat!);
      add("z mean", sz.mean);
      add("z std", sz.std);
      add("ẑ mean", sh.mean);
      add("ẑ std", sh.std);
    })
  );
}
for (const [k, v] of sums) console.log(`${k.padEnd(48)} ${v.toFixed(3)}`);
