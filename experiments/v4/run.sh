#!/usr/bin/env bash
# v3 (v2's stage 2 continued on sRGB-curve brackets) continued on brackets whose cameras also
# have a black point (`synth.black`): real camera JPEGs lose their deepest shadows to code 0,
# and v1–v3 followed the reference into them where the long frame had the light. Branches from
# v3's checkpoint at step 9,750 (copied; v3's own folder is left to resume) and runs to 15,000,
# the learning rate at 1.5e-4 to epoch 8 (lrStepEpochs 4), then 0.3×. Resumes where it stopped
# when run again. From the repository root, runs/ holding the run folders:
#   bash experiments/v4/run.sh
set -euo pipefail
s2=runs/v4-stage2
if [ ! -f "$s2/state.safetensors" ]; then
  mkdir -p "$s2" && cp runs/v3-stage2-9750/{config.json,log.csv,val.csv,state.safetensors,weights.safetensors} "$s2/"
fi
deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts \
  --config experiments/v4/stage2.json --out "$s2" --resume
