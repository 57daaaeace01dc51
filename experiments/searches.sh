#!/usr/bin/env bash
# The searches behind results/README.md, then their second stage (re-ranks).
#
#   bash experiments/searches.sh      # runs what is missing, resumes what was interrupted
#
# NNI's files go to results/searches/<id>/ (committed: `nas export` and the report read the SQLite
# database), each search's output to results/searches/<id>.out, its best architectures to
# results/exports/<id>/. A search whose export exists is done.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p results/searches
SEARCH_LOG=results/searches
# these searches are flat (one proxy a trial, not the multi-fidelity default) and trained their
# proxies with TrainConfig's own recipe, not a flat search's default one (nas/config.py, FLAT_RECIPE)
RECIPE=(--schedule flat --set batch_size=128 --set augment=true)

# The first seven: two strategies at each of three budgets, one proxy (3 epochs on 20,000 training
# images, scored on the 5,000 validation images, 2 trials at once). Fewer trials where a trial costs
# more or matters less; s8k-tpe (after s8k-evolution) stops early. The whole space, BatchNorm
# searched too (--fix none: a flat search's default pins it on). s8k-evolution was later resumed
# with --trials 40 and stopped after 22 (results/README.md says why).
first() {  # budget strategy trials [--early-stop]
  local id="s$(($1 / 1000))k-$2"
  if exported "$id"; then  # an export with fewer trials than asked: extended (`nas resume --trials`)
    ran=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['trials'])" "results/exports/$id/summary.json")
    if [ "$ran" -ge "$3" ]; then echo "$id: done ($ran trials)"
    else logged "$SEARCH_LOG/$id.out" nas resume "$id" --results results --trials "$3"; fi
  else
    search_or_resume "$id" --strategy "$2" --max-params "$1" --trials "$3" --epochs 3 --train-subset 20000 \
      --concurrency 2 --fix none "${RECIPE[@]}" "${@:4}"
  fi
}
first 8000 random 16
first 8000 evolution 16
first 8000 tpe 24 --early-stop
first 4000 random 12
first 4000 evolution 12
first 20000 random 12
first 20000 evolution 12

# The later ones restrict the space (--fix, --min-params) and train a longer proxy on all 55,000
# images outside the validation split, with early stopping.
later() { search_once "$@" --train-subset 0 --concurrency 2 --early-stop "${RECIPE[@]}"; }
# without BatchNorm the recipe rarely trains these networks, and the best 8k trials sat well under
# the budget: BN on, at least 6,000 parameters, a 2-epoch proxy
later s8k-evolution-bn --strategy evolution --max-params 8000 --min-params 6000 --fix bn=true --trials 24 --epochs 2
# the same at 20k on an 8-epoch proxy; run by bench/search_to_target.py (issue 4's "99.40% validation
# within an hour" benchmark), which stops it early if a trial gets there
later s20k-evolution-bn --strategy evolution --max-params 20000 --min-params 12000 --fix bn=true --trials 24 --epochs 8
# the first 8k search whose strategy hears the trials' scores (the ones above ran blind: the Replay
# bug, results/README.md step 5), at the budget's edge (exp3 holds 8,880), 5-epoch proxy
later s8k-evolution-edge --strategy evolution --max-params 8000 --min-params 7000 --fix bn=true --trials 30 --epochs 5
# exp3's topology (2 + 4 convs, no third stage, no padding, GAP head, BN), consistent under the
# protocol; the search picks the widths and the dropout under 8,000, on a 6-epoch proxy
later s8k-evolution-exp3 --strategy evolution --max-params 8000 --min-params 7000 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1 --trials 20 --epochs 6
# its finalists (dropout 0.00-0.02) dipped below 99.40 in confirmation, while both consistent BN
# models carry dropout: the same with dropout pinned at exp3's 0.05, at 7,500+
later s8k-evolution-drop --strategy evolution --max-params 8000 --min-params 7500 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1,dropout=0.05 --trials 16 --epochs 6
# the two 4k searches above ran blind on the short proxy and their finalist (no BN) underfits:
# BN on, 3,000+, a 5-epoch proxy, scores heard
later s4k-evolution-bn --strategy evolution --max-params 4000 --min-params 3000 --fix bn=true --trials 16 --epochs 5

# depthwise-separable stage-2 convs in exp3's topology, after six plain-conv 8k models all confirmed
# at late means of 99.43-99.45: wider stage-2 convs (up to 64 channels); a 1.5M FLOP cap (exp3:
# 1.08M) keeps the first stage narrow. No early stop: the re-rank takes its candidates by proxy score,
# and a stopped trial's score is an earlier epoch's
search_once s8k-evolution-sep --strategy evolution --max-params 8000 --min-params 6500 \
  --max-flops 1500000 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1,sep2=true \
  --trials 20 --epochs 6 --train-subset 0 --concurrency 2 "${RECIPE[@]}"

# Second stage: a search's best trials retrained for 15 epochs and ranked on validation (`nas
# rerank`; finished candidates are skipped); `nas finalist` then picks the winner.
for id in s8k-evolution-bn s20k-evolution-bn; do
  nas rerank "$id" --results results --jobs 2 2>&1 | tee -a "results/rerank/$id.out"
done
# two seeds per candidate: one seed's late validation mean moves as much as the candidates differ
for id in s8k-evolution-edge s4k-evolution-bn; do
  nas rerank "$id" --results results --seeds 0,1 --jobs 2 2>&1 | tee -a "results/rerank/$id.out"
done
# s8k-evolution-exp3, s8k-evolution-drop (same proxy, so `nas finalist` pools their re-ranks) and
# s8k-evolution-sep: re-ranked in experiments/rerank_gpu.sh (NAS_DEVICE=cpu JOBS=2 runs it here, for
# days rather than minutes)
