#!/usr/bin/env bash
# Issue 3 at 8k, on a GPU machine: a wider second stage for the 8k searches with the longest proxy
# (6 epochs on 55,000 images), then the usual recipe study and confirmation. Decided before it ran:
#
#   rerank   each search's best distinct trials within 1.5 points of its best proxy score (the CPU
#            re-ranks took the 4 best within 0.2), trained as before: 15 epochs, seeds 0 and 1, scored
#            on the mean validation accuracy of the last 3 epochs. Candidates already trained are
#            kept. s8k-evolution-sep (same proxy, so `nas finalist` pools it) came later, with as
#            many candidates (8) as the session's last minutes of GPU time could train in one wave.
#   study    if the pooled winner has no recipe study yet: the defaults against aug-light (the variant
#            that won both earlier studies), seeds 0, 1.
#   confirm  `nas finalist`'s pick at 8,000 parameters under the protocol (experiments/confirmations.sh).
#
#   NAS_DEVICE=cuda bash experiments/rerank_gpu.sh [rerank|study|confirm|all]    # default: all
#
# A GPU serves eight one-seed trainings at about 4x the images/s of one (bench/RESULTS.md), so each
# re-rank trains 4 candidates x 2 seeds at once. On a CPU it runs too (NAS_DEVICE=cpu JOBS=2), slowly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
JOBS=${JOBS:-8}
RERANKS=(s8k-evolution-exp3:12 s8k-evolution-drop:12 s8k-evolution-sep:8)   # search:candidates
what=${1:-all}

if [[ $what == rerank || $what == all ]]; then   # the three at once, into results/rerank/<id>.wide.out
  pids=()
  for spec in "${RERANKS[@]}"; do
    id=${spec%%:*}
    [ -e "results/searches/$id/nas.json" ] || { echo "$id: no such search yet"; continue; }
    nas rerank "$id" --top "${spec##*:}" --within 1.5 --seeds 0,1 --jobs "$JOBS" >> "results/rerank/$id.wide.out" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done   # each exit status counts (set -e)
fi
if [[ $what == study || $what == all ]]; then
  arch=$(nas finalist --max-params 8000)   # the pooled winner: nas finalist's rule (nas/results/decide.py)
  trial=$(trial_of "$arch")
  if [ -e "results/recipe/$trial/study.json" ]; then
    echo "study: the pooled winner $trial has one already"
  else
    nas recipe "$arch" --out "results/recipe/$trial" --seeds 0,1 --jobs 2 \
      --variant "aug-light:max_degrees=5,max_shift=1" --variant "default:" 2>&1 | tee "results/recipe/$trial.out"
  fi
fi
if [[ $what == confirm || $what == all ]]; then
  BUDGETS=8000 JOBS=${CONFIRM_JOBS:-5} NAS=$NAS bash experiments/confirmations.sh finalists
fi
