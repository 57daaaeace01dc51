#!/usr/bin/env bash
# Issue 3 at 8k, on a GPU machine: a wider second stage for the two 8k searches with the longest
# proxy (s8k-evolution-exp3 and s8k-evolution-drop, 6 epochs on 55,000 images), then the usual
# recipe study and confirmation. Decided before any of it ran:
#
#   rerank   each search's 12 best distinct trials within 1.5 points of its best proxy score (the
#            CPU re-ranks took the 4 best within 0.2), trained as before: 15 epochs, seeds 0 and 1,
#            scored on the mean validation accuracy of the last 3 epochs. Candidates already trained
#            (on the CPU) are kept, so only the new ones train. Added later, with the same proxy
#            (so `nas finalist` pools it with the two): s8k-evolution-sep (separable stage-2
#            convs, run_searches.sh), its 8 best within 1.5 points, as many as the last minutes of
#            GPU time of that session could train in one wave.
#   study    if the pooled winner of the two re-ranks has no recipe study yet: the study that both
#            earlier ones ran, the defaults against aug-light (the variant that won both), seeds 0, 1.
#   confirm  `nas finalist`'s pick at 8,000 parameters under the protocol (run_confirmations.sh).
#
#   NAS_DEVICE=cuda bash results/run_rerank_gpu.sh [rerank|study|confirm|all]    # default: all
#
# A GPU serves eight one-seed trainings at about 4x the images/s of one (bench/RESULTS.md), so each
# re-rank trains 4 candidates x 2 seeds at once. On a CPU it runs too (NAS_DEVICE=cpu JOBS=2), slowly.
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
JOBS=${JOBS:-8}
RERANKS=(s8k-evolution-exp3:12 s8k-evolution-drop:12 s8k-evolution-sep:8)   # search:candidates
SEARCHES=("${RERANKS[@]%%:*}")
what=${1:-all}

if [[ $what == rerank || $what == all ]]; then
  pids=()
  for spec in "${RERANKS[@]}"; do
    id=${spec%%:*}
    [ -e "results/searches/$id/nas.json" ] || { echo "$id: no such search yet"; continue; }
    "$NAS" rerank "$id" --top "${spec##*:}" --within 1.5 --seeds 0,1 --jobs "$JOBS" \
      >> "results/rerank/$id.wide.out" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done   # each exit status counts (set -e)
fi
if [[ $what == study || $what == all ]]; then
  # the pooled winner over the re-ranks: nas finalist's rule (nas/decide.py), not a copy of it
  arch=$("$NAS" finalist --max-params 8000)
  trial=$(basename "$(dirname "$arch")"); trial=${trial#rank*_}
  if [ -e "results/recipe/$trial/study.json" ]; then
    echo "study: the pooled winner $trial has one already"
  else
    "$NAS" recipe "$arch" --out "results/recipe/$trial" --seeds 0,1 --jobs 2 \
      --variant "aug-light:max_degrees=5,max_shift=1" --variant "default:" 2>&1 | tee "results/recipe/$trial.out"
  fi
fi
if [[ $what == confirm || $what == all ]]; then
  BUDGETS=8000 JOBS=${CONFIRM_JOBS:-5} NAS=$NAS bash results/run_confirmations.sh finalists
fi
