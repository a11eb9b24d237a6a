#!/usr/bin/env bash
# Stage-1 runs of every CONFIG_DIR/*.json into RUNS_DIR/NAME, each run's --json summary in
# RUNS_DIR/NAME/summary.json, for the experiments that compare configurations. Usage, from the
# repository root:
#   bash experiments/train_each.sh CONFIG_DIR RUNS_DIR [TRAIN_FLAGS...]
# A finished run (one with its summary) is skipped; an interrupted one is resumed.
set -euo pipefail
configs=$1 runs=$2
shift 2
mkdir -p "$runs"
for cfg in "$configs"/*.json; do
  name=$(basename "$cfg" .json)
  out=$runs/$name
  [ -f "$out/summary.json" ] && continue
  resume=()
  [ -f "$out/state.safetensors" ] && resume=(--resume)
  deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts --config "$cfg" \
    "$@" --out "$out" --json "${resume[@]}" > "$out.json.tmp"
  mkdir -p "$out" && mv "$out.json.tmp" "$out/summary.json"
done
