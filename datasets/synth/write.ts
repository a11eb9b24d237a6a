// Writing a synthetic scene in the Kalantari layout (frame1–3.tif, exposure.txt with EVs
// from the shortest frame, HDRImg.hdr in shortest-exposure units), plus synth.json (what the
// scene was made of) and preview.png: the three frames and their naive, unaligned merge side
// by side, where moving objects show as ghosts. Every file is written atomically.

import { writeImage } from "../../io/codecs.ts";
import { linearise, linearScales } from "../../imaging/exposure.ts";
import { writeFileAtomic, writeTextAtomic } from "../../io/files.ts";
import { type Image, newImage } from "../../io/image.ts";
import { encodeRadiance } from "../../io/radiance.ts";
import { encodeTiff } from "../../io/tiff.ts";
import { previewImage } from "../../imaging/tonemap.ts";
import { synthesizeScene, type SynthOptions, type SynthScene } from "./scene.ts";

export async function writeScene(dir: string, scene: SynthScene): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const bits = scene.ldrs[0].bitDepth === 8 ? 8 : 16;
  for (const [i, ldr] of scene.ldrs.entries()) {
    await writeFileAtomic(`${dir}/frame${i + 1}.tif`, encodeTiff(ldr, bits));
  }
  await writeTextAtomic(`${dir}/exposure.txt`, scene.evs.join("\n") + "\n");
  await writeFileAtomic(`${dir}/HDRImg.hdr`, encodeRadiance(scene.gt));
  await writeTextAtomic(`${dir}/synth.json`, JSON.stringify(scene.meta, null, 1) + "\n");
  await writeImage(`${dir}/preview.png`, previewStrip(scene));
}

/**
 * A small set for tests and checks: scenes 001…n made with seeds o.seed, o.seed + 1, …, the
 * last in Test/ and the others in Training/.
 */
export async function writeSynthSet(root: string, n: number, o: SynthOptions): Promise<void> {
  for (let i = 0; i < n; i++) {
    await writeScene(
      `${root}/${i === n - 1 ? "Test" : "Training"}/${String(i + 1).padStart(3, "0")}`,
      synthesizeScene({ ...o, seed: o.seed + i }),
    );
  }
}

/** The three frames and the plain average of their linearised values. */
export function previewStrip(scene: SynthScene): Image {
  const { width: w, height: h } = scene.gt;
  const merged = newImage(w, h, 3, 32), scales = linearScales(scene.evs);
  scene.ldrs.forEach((ldr, f) => {
    for (let i = 0; i < merged.data.length; i++) {
      merged.data[i] += linearise(ldr.data[i], scales[f]) / 3;
    }
  });
  const panels = [...scene.ldrs, previewImage(merged)];
  const out = newImage(w * panels.length, h, 3, 8);
  panels.forEach((p, k) => {
    for (let y = 0; y < h; y++) {
      out.data.set(
        p.data.subarray(y * w * 3, (y + 1) * w * 3),
        (y * w * panels.length + k * w) * 3,
      );
    }
  });
  return out;
}
