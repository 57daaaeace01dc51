#!/usr/bin/env bash
# The confirmation runs behind results/README.md, under the protocol of issue 3: all 60,000 training
# images (val_size=0), 15 epochs, seeds 0-4. A run whose summary.json exists is done; an interrupted
# one continues from its per-epoch checkpoints (--resume).
#
#   bash experiments/confirmations.sh [finalists|recipe|baselines|own|all]    # default: all
#   BUDGETS=8000 JOBS=5 NAS_DEVICE=cuda bash experiments/confirmations.sh finalists   # one budget, on a GPU
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# JOBS=5 trains the five seeds at once: each still has one CPU thread, so the numbers are those of
# 2 at a time, and on 2 cores no core idles through a last lone seed
PROTOCOL=(--epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs "${JOBS:-2}")
what=${1:-all}

# finalists: at each budget `nas finalist`'s pick (the best trial of the longest-proxy searches, or
# its re-rank's winner), under the recipe of a study's pick that beat it on validation (`nas finalist
# --recipe`: '<variant> <pick.json>', else nothing), into results/confirm/s<budget>k-<trial>[-<variant>]
if [[ $what == finalists || $what == all ]]; then
  for budget in ${BUDGETS:-8000 4000 20000}; do
    arch=$(nas finalist --max-params "$budget") || { echo "no finalist at $budget yet"; continue; }
    read -r variant recipe <<< "$(nas finalist --max-params "$budget" --recipe)" || true
    out="results/confirm/s$((budget / 1000))k-$(trial_of "$arch")${variant:+-$variant}"
    train_once "$out" nas train "$arch" ${recipe:+--config "$recipe"} "${PROTOCOL[@]}" --out "$out"
  done
fi
# recipe: the hand-made exp3 and exp4 (the two with BatchNorm, which the 8k finalists are measured
# against) under a finalist's recipe, into results/baselines-<variant>/: both sides under one recipe
if [[ $what == recipe || $what == all ]]; then
  for budget in ${BUDGETS:-8000 4000 20000}; do
    read -r variant recipe <<< "$(nas finalist --max-params "$budget" --recipe 2>/dev/null)" || true
    [ -n "${variant:-}" ] || continue
    for name in exp3 exp4; do
      train_once "results/baselines-$variant/$name" nas baselines --names "$name" --config "$recipe" "${PROTOCOL[@]}" \
        --out "results/baselines-$variant"
    done
  done
fi
# baselines: the four hand-made models under the protocol and the default recipe
if [[ $what == baselines || $what == all ]]; then
  for name in exp1 exp2 exp3 exp4; do
    train_once "results/baselines/$name" nas baselines --names "$name" "${PROTOCOL[@]}" --out results/baselines
  done
fi
# own: the same four under their own recipe from the seed (20 epochs)
if [[ $what == own || $what == all ]]; then
  for name in exp1 exp2 exp3 exp4; do
    train_once "results/baselines-own/$name" nas baselines --names "$name" --own-recipe --seeds 0,1,2,3,4 \
      --set val_size=0 --jobs "${JOBS:-2}" --out results/baselines-own
  done
fi
