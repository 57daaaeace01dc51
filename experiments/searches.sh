#!/usr/bin/env bash
# The searches behind results/README.md: two strategies at each of three parameter budgets.
#
#   bash results/run_searches.sh            # runs what is missing, resumes what was interrupted
#
# The first seven searches use the same proxy: 3 epochs on 20,000 training images, validation accuracy
# on the 5,000 held-out images as the score, 2 trials at once (1 CPU thread each). The later ones
# (LATER below) restrict the space (--fix, --min-params) and train a longer proxy: 2 (8k) or 8 (20k)
# epochs on all 55,000 images outside the validation split. NNI's files go to
# results/searches/<id>/ (committed: the SQLite database is what `nas export` and the report read);
# the best architecture of each goes to results/exports/<id>/. A search whose export exists is done.
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
WORK=results/searches
mkdir -p "$WORK"
# budget:strategy:trials[:early] (fewer trials where a trial is cheap enough to matter less, or
# costs more; "early": --early-stop). s8k-evolution was later resumed with --trials 40 and stopped
# after 22 (results/README.md says why); s8k-tpe came after it, with early stopping.
LATER=(
  # after the first 8k searches: without BatchNorm the recipe rarely trains these networks, and the
  # best 8k trials sat well under the budget; so BN on, at least 6,000 parameters, a longer proxy
  "s8k-evolution-bn --strategy evolution --max-params 8000 --min-params 6000 --fix bn=true --trials 24 --epochs 2"
  # the same idea at 20k, with an 8-epoch proxy: run by bench/search_to_target.py (issue 4's "search
  # to 99.40% validation within an hour" benchmark), which also stops it early if a trial gets there
  "s20k-evolution-bn --strategy evolution --max-params 20000 --min-params 12000 --fix bn=true --trials 24 --epochs 8"
  # every evolution / TPE search above ran blind (the Replay bug, see results/README.md step 5): the
  # first 8k search whose strategy hears the trials' scores, at the budget's edge (the hand-made
  # exp3 holds 8,880), with a 5-epoch proxy on all 55,000 images
  "s8k-evolution-edge --strategy evolution --max-params 8000 --min-params 7000 --fix bn=true --trials 30 --epochs 5"
  # its best networks (a conv_full head) re-ranked below the earlier 8k finalist, while the hand-made
  # exp3 (8,880 params) is consistent under the protocol: so exp3's topology (2 + 4 convs, no third
  # stage, no padding, GAP head, BN), and the search chooses the widths and the dropout under 8,000,
  # on a 6-epoch proxy
  "s8k-evolution-exp3 --strategy evolution --max-params 8000 --min-params 7000 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1 --trials 20 --epochs 6"
  # its finalists (no dropout, 0.00-0.02) dipped below 99.40 in confirmation, while both consistent
  # models with BN carry dropout (exp3 0.05, AgIgA 0.1) and the short proxy may penalise dropout:
  # so the same topology and proxy with dropout pinned at exp3's 0.05, at the budget's edge (7,500+)
  "s8k-evolution-drop --strategy evolution --max-params 8000 --min-params 7500 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1,dropout=0.05 --trials 16 --epochs 6"
  # both 4k searches above ran blind on a 3-epoch proxy of 20,000 images, and their finalist (no
  # BatchNorm, a 4-channel transition) underfits: the first 4k search whose strategy hears its
  # scores, BN on, at the budget's upper part (3,000+), on a 5-epoch proxy of all 55,000 images
  "s4k-evolution-bn --strategy evolution --max-params 4000 --min-params 3000 --fix bn=true --trials 16 --epochs 5"
)
for spec in 8000:random:16 8000:evolution:16 8000:tpe:24:early 4000:random:12 4000:evolution:12 \
            20000:random:12 20000:evolution:12; do
  IFS=: read -r budget strategy trials early <<< "$spec"
  id="s$((budget / 1000))k-$strategy"
  if [ -e "results/exports/$id/summary.json" ]; then
    # a later spec with more trials for the same id extends that search (`nas resume --trials`)
    ran=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['trials'])" "results/exports/$id/summary.json")
    if [ "$ran" -ge "$trials" ]; then echo "$id: done ($ran trials)"; continue; fi
    "$NAS" resume "$id" --results results --trials "$trials" 2>&1 | tee -a "$WORK/$id.out"
    continue
  fi
  if [ -e "$WORK/$id/nas.json" ]; then
    "$NAS" resume "$id" --results results 2>&1 | tee -a "$WORK/$id.out"
  else
    "$NAS" search --id "$id" --results results --strategy "$strategy" --max-params "$budget" \
      --trials "$trials" --epochs 3 --train-subset 20000 --concurrency 2 ${early:+--early-stop} 2>&1 | tee -a "$WORK/$id.out"
  fi
done
for spec in "${LATER[@]}"; do
  read -r id args <<< "$spec"
  if [ -e "results/exports/$id/summary.json" ]; then echo "$id: done"; continue; fi
  if [ -e "$WORK/$id/nas.json" ]; then
    "$NAS" resume "$id" --results results 2>&1 | tee -a "$WORK/$id.out"
  else
    # shellcheck disable=SC2086
    "$NAS" search --id "$id" --results results $args --train-subset 0 --concurrency 2 \
      --early-stop 2>&1 | tee -a "$WORK/$id.out"
  fi
done
# depthwise-separable convs (sep2: every stage-2 conv) in exp3's topology, after six searched 8k
# models of the plain-conv family all confirmed at late means of 99.43-99.45: the budget buys wider
# stage-2 convs (up to 64 channels); a FLOP cap of 1.5M (exp3: 1.08M) keeps the 26x26 first stage
# narrow. No early stop: a stopped trial's proxy score is that of an earlier epoch, and the
# re-rank takes its candidates by proxy score
if [ ! -e "results/exports/s8k-evolution-sep/summary.json" ]; then
  if [ -e "$WORK/s8k-evolution-sep/nas.json" ]; then
    "$NAS" resume s8k-evolution-sep --results results 2>&1 | tee -a "$WORK/s8k-evolution-sep.out"
  else
    "$NAS" search --id s8k-evolution-sep --results results --strategy evolution --max-params 8000 --min-params 6500 \
      --max-flops 1500000 --fix bn=true,depth1=2,pad1=0,depth2=4,pad2=0,depth3=0,head=gap_1x1,sep2=true \
      --trials 20 --epochs 6 --train-subset 0 --concurrency 2 2>&1 | tee -a "$WORK/s8k-evolution-sep.out"
  fi
fi
# Second stage: the best trials of the longest-proxy search at 8k and at 20k, retrained for 15 epochs and ranked
# on validation (`nas rerank`); `nas finalist` then picks the winner. Finished candidates are skipped.
for id in s8k-evolution-bn s20k-evolution-bn; do
  "$NAS" rerank "$id" --results results --jobs 2 2>&1 | tee -a "results/rerank/$id.out"
done
# two seeds per candidate: one seed's late validation mean moves as much as the candidates differ
# (s8k-evolution-drop: same proxy as s8k-evolution-exp3, so `nas finalist` pools their re-ranks)
for id in s8k-evolution-edge s4k-evolution-bn; do
  "$NAS" rerank "$id" --results results --seeds 0,1 --jobs 2 2>&1 | tee -a "results/rerank/$id.out"
done
# s8k-evolution-exp3 and s8k-evolution-drop were re-ranked the same way (their 4 best within 0.2
# points), then wider on a GPU, and s8k-evolution-sep (below) joined them: results/run_rerank_gpu.sh
# (NAS_DEVICE=cpu JOBS=2 runs it here, for days rather than minutes)
