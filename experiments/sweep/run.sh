#!/usr/bin/env bash
# The configuration sweep of the README's "Choosing the small configuration": every
# experiments/sweep/*.json trains stage 1 for the same wall time on the same data, then
# validates on the same held-out scenes. Usage (from the repository root):
#   bash experiments/sweep/run.sh DATA_DIR RUNS_DIR [MINUTES]
# A run already finished in RUNS_DIR is skipped; an interrupted one is resumed.
set -euo pipefail
data=$1 runs=$2 minutes=${3:-10}
mkdir -p "$runs"
for cfg in experiments/sweep/*.json; do
  name=$(basename "$cfg" .json)
  out=$runs/$name
  [ -f "$out/summary.json" ] && continue
  resume=()
  [ -f "$out/state.safetensors" ] && resume=(--resume)
  deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts --config "$cfg" \
    --data "$data" --out "$out" --max-minutes "$minutes" --json "${resume[@]}" > "$out.json.tmp"
  mkdir -p "$out" && mv "$out.json.tmp" "$out/summary.json"
done
