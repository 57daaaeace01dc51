#!/usr/bin/env bash
# The confirmation runs behind results/README.md, under the protocol of issue 3: all 60,000 training
# images (val_size=0), 15 epochs, seeds 0-4, the default recipe for every architecture.
#
#   bash results/run_confirmations.sh [finalists|recipe|baselines|own|all]    # default: all
#   BUDGETS=8000 JOBS=5 NAS_DEVICE=cuda bash results/run_confirmations.sh finalists   # one budget, on a GPU
#
# A finished run (its summary.json exists) is skipped; an interrupted one continues from its
# per-epoch checkpoints (--resume). Finalists: the best trial by validation accuracy over the searches
# with the longest proxy at each budget, or its re-rank's winner, or a recipe study's pick that beat
# that winner on validation (`nas finalist`, `nas finalist --recipe`), confirmed into
# results/confirm/s<budget>k-<trial>[-<variant>]; earlier picks keep their folders. "recipe": the
# hand-made exp3 and exp4 (the two with BatchNorm, the ones the 8k finalists are measured against)
# under the recipe of a finalist that has one, into results/baselines-<variant>/, so that the searched
# and the hand-made models are compared under one recipe. Then the four hand-made
# baselines under the same protocol, and under their own recipe from the seed (20 epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
# JOBS=5 trains all five seeds at once: each seed still has one CPU thread, so the numbers are the
# same as with 2 at a time, and on 2 cores no core idles through a last lone seed
PROTOCOL=(--epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs "${JOBS:-2}")
what=${1:-all}
continue_or_start() { [ -e "$1/config.json" ] && echo --resume || true; }

if [[ $what == finalists || $what == all ]]; then
  for budget in ${BUDGETS:-8000 4000 20000}; do
    arch=$("$NAS" finalist --max-params "$budget") || { echo "no finalist at $budget yet"; continue; }
    trial=$(basename "$(dirname "$arch")"); trial=${trial#rank*_}   # .../rank<N>_<trial>/arch.json (N > 1 after a re-rank)
    # a recipe study's pick that beat the re-rank on validation: '<variant> <pick.json>' (else nothing)
    read -r variant recipe <<< "$("$NAS" finalist --max-params "$budget" --recipe)" || true
    out="results/confirm/s$((budget / 1000))k-$trial${variant:+-$variant}"
    [ -e "$out/summary.json" ] && { echo "$out: done"; continue; }
    "$NAS" train "$arch" ${recipe:+--config "$recipe"} "${PROTOCOL[@]}" --out "$out" $(continue_or_start "$out")
  done
fi
if [[ $what == recipe || $what == all ]]; then
  for budget in ${BUDGETS:-8000 4000 20000}; do
    read -r variant recipe <<< "$("$NAS" finalist --max-params "$budget" --recipe 2>/dev/null)" || true
    [ -n "${variant:-}" ] || continue
    for name in exp3 exp4; do
      out="results/baselines-$variant/$name"
      [ -e "$out/summary.json" ] && { echo "$out: done"; continue; }
      "$NAS" baselines --names "$name" --config "$recipe" "${PROTOCOL[@]}" --out "results/baselines-$variant" \
        $(continue_or_start "$out")
    done
  done
fi
if [[ $what == baselines || $what == all ]]; then
  for name in exp1 exp2 exp3 exp4; do
    out="results/baselines/$name"
    [ -e "$out/summary.json" ] && { echo "$out: done"; continue; }
    "$NAS" baselines --names "$name" "${PROTOCOL[@]}" --out results/baselines $(continue_or_start "$out")
  done
fi
if [[ $what == own || $what == all ]]; then
  for name in exp1 exp2 exp3 exp4; do
    out="results/baselines-own/$name"
    [ -e "$out/summary.json" ] && { echo "$out: done"; continue; }
    "$NAS" baselines --names "$name" --own-recipe --seeds 0,1,2,3,4 --set val_size=0 --jobs "${JOBS:-2}" \
      --out results/baselines-own $(continue_or_start "$out")
  done
fi
