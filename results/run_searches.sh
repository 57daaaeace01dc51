#!/usr/bin/env bash
# The searches behind results/README.md: two strategies at each of three parameter budgets.
#
#   bash results/run_searches.sh            # runs what is missing, resumes what was interrupted
#
# Every search uses the same proxy: 3 epochs on 20,000 training images, validation accuracy on the
# 5,000 held-out images as the score, 2 trials at once (1 CPU thread each). NNI's files go to
# results/searches/<id>/ (committed: the SQLite database is what `nas export` and the report read);
# the best architecture of each goes to results/exports/<id>/. A search whose export exists is done.
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
WORK=results/searches
TRIALS=${TRIALS:-16}
mkdir -p "$WORK"
for spec in 8000:random 8000:evolution 4000:random 4000:evolution 20000:random 20000:evolution; do
  budget=${spec%%:*} strategy=${spec##*:}
  id="s$((budget / 1000))k-$strategy"
  if [ -e "results/exports/$id/summary.json" ]; then echo "$id: done"; continue; fi
  if [ -e "$WORK/$id/nas.json" ]; then
    "$NAS" resume "$id" --workdir "$WORK" 2>&1 | tee -a "$WORK/$id.out"
  else
    "$NAS" search --id "$id" --workdir "$WORK" --strategy "$strategy" --max-params "$budget" \
      --trials "$TRIALS" --epochs 3 --train-subset 20000 --concurrency 2 2>&1 | tee -a "$WORK/$id.out"
  fi
done
