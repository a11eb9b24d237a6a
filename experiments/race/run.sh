#!/usr/bin/env bash
# The configuration race of issue 19: stage 1 of each experiments/race/*.json for about an
# hour of compute each, on synthetic scenes made as training goes (maps and photographs,
# held-out material excluded), validated on the same 12 held-out scenes. Equal compute is a
# step count per experiment (maxSteps = 3600 s / its step time measured on the 2-core
# machine), so the result does not depend on what else the machine was doing. Usage, from
# the repository root, with data/ holding the material (data/README.md):
#   bash experiments/race/run.sh RUNS_DIR
# A finished run is skipped; an interrupted one is resumed.
set -euo pipefail
exec bash experiments/train_each.sh experiments/race "$1"
