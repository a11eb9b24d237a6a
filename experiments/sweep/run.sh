#!/usr/bin/env bash
# The configuration sweep of the README's "Choosing the small configuration": every
# experiments/sweep/*.json trains stage 1 on the same data for the same compute, then
# validates on the same held-out scenes. Equal compute is a step count per experiment
# (maxSteps = 600 s / its step time measured alone on the 2-core machine), so the result
# does not depend on what else the machine was doing. Usage (from the repository root):
#   bash experiments/sweep/run.sh DATA_DIR RUNS_DIR
# A run already finished in RUNS_DIR is skipped; an interrupted one is resumed.
set -euo pipefail
data=$1 runs=$2
mkdir -p "$runs"
for cfg in experiments/sweep/*.json; do
  name=$(basename "$cfg" .json)
  out=$runs/$name
  [ -f "$out/summary.json" ] && continue
  resume=()
  [ -f "$out/state.safetensors" ] && resume=(--resume)
  deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts --config "$cfg" \
    --data "$data" --out "$out" --json "${resume[@]}" > "$out.json.tmp"
  mkdir -p "$out" && mv "$out.json.tmp" "$out/summary.json"
done
