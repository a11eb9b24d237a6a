#!/usr/bin/env bash
# v3 (v2's stage 2 continued on sRGB-curve brackets) continued on brackets whose cameras also
# have a black point (`synth.black`): real camera JPEGs lose their deepest shadows to code 0,
# and v1–v3 followed the reference into them where the long frame had the light. Branches from
# v3 at step 9,750 (v3 run that far if it has not been) and runs to 15,000, the learning rate
# at 1.5e-4 to epoch 8 (lrStepEpochs 4), then 0.3×. Resumes where it stopped when run again.
# The shipped weights are its step 11,000 (`--max-steps 11000`; flags go to v4's train call).
# From the repository root, runs/ holding the run folders (v2's stage 2 among them):
#   bash experiments/v4/run.sh [--max-steps 11000]
set -euo pipefail
s3=runs/v3-stage2 s4=runs/v4-stage2
train() { deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts "$@"; }
if [ ! -f "$s4/state.safetensors" ]; then
  if [ ! -f "$s3/state.safetensors" ]; then
    mkdir -p "$s3" && cp runs/v2-stage2/{config.json,log.csv,val.csv,state.safetensors,weights.safetensors} "$s3/"
  fi
  train --config experiments/v3/stage2.json --out "$s3" --resume --max-steps 9750
  if [ "$(tail -1 "$s3/log.csv" | cut -d, -f1)" != 9750 ]; then
    echo "v4: $s3 is past step 9,750; v4 branches there" >&2
    exit 1
  fi
  mkdir -p "$s4" && cp "$s3"/{config.json,log.csv,val.csv,state.safetensors,weights.safetensors} "$s4/"
fi
train --config experiments/v4/stage2.json --out "$s4" --resume "$@"
