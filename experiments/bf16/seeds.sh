#!/usr/bin/env bash
# bf16 against fp32 training, four seeds: the 1,000-step stage-1 `small` run of
# small-1000-anneal.json (LR 5e-4, ×0.1 from epoch 5, about step 480) in each precision under
# seeds 1–4, each scored on all 48 held-out scenes. Runs that differ only in rounding end about
# 0.2 dB apart (0.4 on the run's own 12 validation scenes), so one pair cannot show a 0.2 dB
# difference; the mean over seeds can. Resumes where it stopped when run again.
# From the repository root, with data/ as in data/README.md:
#   bash experiments/bf16/seeds.sh [RUNS_DIR]      (default runs/bf16-seeds)
set -euo pipefail
R=${1:-runs/bf16-seeds}
mkdir -p "$R"
for seed in 1 2 3 4; do
  for p in bf16 fp32; do
    n=$R/$p-s$seed
    if [ ! -f "$n.summary.json" ]; then
      resume=() && [ -f "$n/state.safetensors" ] && resume=(--resume)
      deno run --allow-ffi --allow-read --allow-write --allow-env tools/train.ts \
        --config experiments/bf16/small-1000-anneal.json --precision $p --seed $seed \
        --out "$n" "${resume[@]}" --json > "$n.summary.tmp" && mv "$n.summary.tmp" "$n.summary.json"
    fi
    [ -f "$n.eval.json" ] || deno task eval --data data/synth-v3-test --split all \
      --weights "$n/weights.safetensors" --json "$n.eval.json" > "$n.eval.txt"
  done
done
grep -H "^mean" "$R"/*.eval.txt
