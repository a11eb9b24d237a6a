#!/usr/bin/env bash
# The configuration sweep of the README's "Choosing the small configuration": every
# experiments/sweep/*.json trains stage 1 on the same data for the same compute, then
# validates on the same held-out scenes. Equal compute is a step count per experiment
# (maxSteps = 600 s / its step time measured alone on the 2-core machine), so the result
# does not depend on what else the machine was doing. Usage (from the repository root):
#   bash experiments/sweep/run.sh DATA_DIR RUNS_DIR
# A run already finished in RUNS_DIR is skipped; an interrupted one is resumed.
set -euo pipefail
exec bash experiments/train_each.sh experiments/sweep "$2" --data "$1"
