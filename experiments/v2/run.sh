#!/usr/bin/env bash
# The long run behind the next shipped model (issue 19): stage 1 of the configuration race's
# winner continued (its first steps are the race run itself: the same data stream, seed and
# learning rate, so the race folder is copied and resumed), then stage 2 from its weights.
# Every part resumes where it stopped: run it again after an interruption. From the
# repository root, with data/ holding the material (data/README.md) and runs/ the run
# folders (a link to a folder outside the tree is fine):
#   bash experiments/v2/run.sh RACE_WINNER_DIR
set -euo pipefail
s1=runs/v2-stage1 s2=runs/v2-stage2
if [ ! -f "$s1/state.safetensors" ]; then
  mkdir -p "$s1" && cp "$1"/{config.json,log.csv,val.csv,state.safetensors,weights.safetensors} "$s1/"
fi
train() { deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts "$@"; }
train --config experiments/v2/stage1.json --out "$s1" --resume
resume=()
[ -f "$s2/state.safetensors" ] && resume=(--resume)
train --config experiments/v2/stage2.json --out "$s2" "${resume[@]}"
