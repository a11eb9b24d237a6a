// `deno task export`: a checkpoint's weights rewritten for shipping, float16 by default (half
// the size; the shipped model is stored so). Prints the size and the largest relative change
// any weight suffered, so a model that does not survive the rounding shows here.

import { loadLFDiff, saveLFDiff } from "../model/checkpoint.ts";
import { flags, run } from "./cli.ts";

const { values, positionals } = flags("export", {
  dtype: { type: "string", default: "f16", arg: "f16|f32", help: "storage type of the weights" },
  json: { type: "boolean", help: "one JSON line on stdout instead of the summary" },
}, {
  usage: ["IN.safetensors OUT.safetensors [--dtype f16|f32]"],
  about:
    "Rewrites LF-Diff weights (e.g. a run folder's weights.safetensors) with their configuration,\n" +
    "as float16 or float32. The output is written to a temporary name and renamed into place.",
  examples: [
    "runs/small-stage2/weights.safetensors weights/lfdiff-small.safetensors",
    "model.safetensors model-f32.safetensors --dtype f32",
  ],
});

await run("export", async () => {
  if (positionals.length !== 2) throw new Error("give IN and OUT (see --help)");
  const [input, output] = positionals;
  if (!["f16", "f32"].includes(values.dtype)) {
    throw new Error(`--dtype must be f16 or f32, got ${values.dtype}`);
  }
  const model = await loadLFDiff(input);
  await saveLFDiff(output, model, {}, values.dtype === "f16" ? "F16" : "F32");
  const back = new Map((await loadLFDiff(output)).namedParameters());
  let worst = 0, count = 0;
  for (const [name, p] of model.namedParameters()) {
    const a = p.toArray(), b = back.get(name)!.toArray();
    let scale = 0, err = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i]));
      err = Math.max(err, Math.abs(a[i] - b[i]));
    }
    if (scale > 0) worst = Math.max(worst, err / scale);
    count += a.length;
  }
  const bytes = (await Deno.stat(output)).size;
  const result = { output, dtype: values.dtype, parameters: count, bytes, worstRelative: worst };
  console.log(
    values.json
      ? JSON.stringify(result)
      : `${output}: ${count} ${values.dtype} weights, ${bytes} bytes; ` +
        `largest change ${worst.toExponential(2)} of a tensor's largest weight`,
  );
});
