#!/usr/bin/env bash
# v2's stage 2 continued on brackets from sRGB-curve cameras (`synth.curve: "srgb"`), whose
# frames reach the network with the crushed deepest shadows of real camera JPEGs: v2 kept a
# real reference's crushed shadows where the long frame had the light (weights/MODEL_CARD.md).
# Continues a copy of v2's stage-2 folder from its step 6,000 to 14,000; resumes where it
# stopped when run again. From the repository root, runs/ holding the run folders:
#   bash experiments/v3/run.sh
set -euo pipefail
s2=runs/v3-stage2
if [ ! -f "$s2/state.safetensors" ]; then
  mkdir -p "$s2" && cp runs/v2-stage2/{config.json,log.csv,val.csv,state.safetensors,weights.safetensors} "$s2/"
fi
deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts \
  --config experiments/v3/stage2.json --out "$s2" --resume
