#!/usr/bin/env bash
# Table 3 at small scale (README "Reproducing Table 3"): the four rows (and split training)
# with the `small` configuration on the same data, for the same compute. Stage 1 is 900
# steps; each stage-2 row adds 450 steps of stage 2 (a stage-2 step costs about 1.5 of
# stage 1, so those rows get a little less compute); the baseline, which has no second
# stage, gets 1800. Then every row is scored on
# the held-out scenes. Usage (from the repository root):
#   bash experiments/ablation/run.sh DATA_DIR RUNS_DIR [PERCENT]
# PERCENT (default 100) scales every row's step count alike, for a cheaper equal-compute run.
# Finished runs are skipped; an interrupted one is resumed.
set -euo pipefail
data=$1 runs=$2 percent=${3:-100}
mkdir -p "$runs"
train() { # NAME CONFIG
  local out=$runs/$1 resume=()
  [ -f "$out/done" ] && return
  [ -f "$out/state.safetensors" ] && resume=(--resume)
  local steps
  steps=$(grep -o '"maxSteps": *[0-9]*' "$2" | grep -o '[0-9]*$')
  sed -e "s|RUNS/|$runs/|" -e "s|\"maxSteps\": *[0-9]*|\"maxSteps\": $((steps * percent / 100))|" \
    "$2" > "$runs/$1.json"
  deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts --config "$runs/$1.json" \
    --data "$data" --out "$out" --json "${resume[@]}" > "$runs/$1.summary.json"
  touch "$out/done"
}
train baseline experiments/ablation/baseline.json
train s1 experiments/ablation/s1.json
for m in no-dm joint split; do train "s2-$m" "experiments/ablation/s2-$m.json"; done
for r in baseline s1 s2-no-dm s2-joint s2-split; do
  [ -f "$runs/$r.eval.json" ] && continue
  deno run --allow-ffi --allow-read --allow-write --allow-env tools/eval.ts --data "$data" \
    --weights "$runs/$r/weights.safetensors" --json "$runs/$r.eval.json" > "$runs/$r.eval.txt"
done
