#!/usr/bin/env bash
# The multi-fidelity searches at 8,000 and 4,000 parameters (10 CPU-hours each on 2 cores), their
# rungs chosen by the finished proxy study (--rungs auto), then one protocol confirmation of each pick
# (60,000 images, 15 epochs, seeds 0-4: one look at the test set each). Resumable: a finished search
# is left as it is, a started confirmation continues, a finished one is kept.
#
#   bash experiments/multifidelity.sh                                        # all of it, on this machine
#   NAS_DEVICE=cuda JOBS=5 bash experiments/multifidelity.sh confirm-8k      # one step (confirm-4k too),
#       e.g. on a GPU machine without NNI: a confirmation needs only torch and fvcore
set -euo pipefail
source "$(dirname "$0")/lib.sh"
JOBS=${JOBS:-2}
what=${1:-all}

search() {  # ID ARGS...: done once its race has an outcome and its pick is exported
  if ls results/exports/"$1"/rank1_*/arch.json >/dev/null 2>&1 && python3 -c \
      "import json, sys; sys.exit(json.load(open('results/searches/$1/rungs.json')).get('outcome') is None)" 2>/dev/null
  then echo "$1: done (nas resume $1 re-exports it)"; else search_or_resume "$@"; fi
}
confirm() {  # ID, budget label: done once every seed has its weights (one look, not repeated)
  local arch; arch=$(ls results/exports/"$1"/rank1_*/arch.json)
  local out; out="results/confirm/$2-$(trial_of "$arch")"
  if ls "$out"/seed{0,1,2,3,4}/model.pt >/dev/null 2>&1; then echo "$out: done"; return; fi
  train_or_resume "$out" nas train "$arch" --epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs "$JOBS" --out "$out"
}
case $what in
  confirm-8k) confirm w8k s8k; exit ;;
  confirm-4k) confirm m4k s4k; exit ;;
  all) ;;
  *) echo "usage: multifidelity.sh [all|confirm-8k|confirm-4k]" >&2; exit 2 ;;
esac

search w8k --max-params 8000 --cpu-hours 10 --strategy evolution
confirm w8k s8k
# BatchNorm pinned on at 4k (decided before m4k started): rung 0 cannot judge BN-off networks (in
# w8k's first 21 rung-0 candidates the 9 without BN stayed at 9.4-12.8%, with BN 88-98%, though BN-off
# exp1/exp2 reach 99.2-99.3 at full training; the proxy study measured BN-on only)
search m4k --max-params 4000 --cpu-hours 10 --strategy evolution --fix bn=true
confirm m4k s4k
nas report --results results
