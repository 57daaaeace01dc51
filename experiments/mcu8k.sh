#!/usr/bin/env bash
# MNIST for a microcontroller with 8 KiB for the model and 8 KiB for the activations (issue 39's
# "one new MNIST search with --prefer params at 8,000 parameters or with a flash bound"): int8 model
# <= 8 KiB (8,192 B), peak int8 activation RAM <= 8 KiB (input left out), and the smallest int8 model
# as good as the best (--prefer flash, margin 0.1 points); then one protocol confirmation of the pick
# (60,000 images, 15 epochs, seeds 0-4: one look at the test set, fp32 and int8 read together).
# Resumable like the others: a finished step says "done".
#
# Rules, written before the search ran (2026-12-06):
# - the race picks the candidate with the fewest int8 model bytes among those non-inferior to the
#   leader within 0.1 points of late validation (one-sided paired t-test, alpha 0.1), as
#   `--prefer flash` does;
# - no controls: no hand-made model fits 8 KiB of RAM (the smallest, exp2, needs 14,624 B); no warm
#   start for the same reason;
# - BatchNorm pinned on and rungs as in unas and m4k (rung 0 cannot judge BN-off networks);
# - 1.5 CPU-hours for the search, one trial at a time (the other core trains the distillation
#   study's teacher; the issue allows 6 CPU-hours);
# - reported whatever it shows: the pick's int8 and fp32 test means over seeds 0-4, read once;
#   no goal beyond the protocol's 99.40% is set for it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
JOBS=${JOBS:-1}
what=${1:-all}
BOUND=(--max-flash 8KiB --max-ram 8KiB --prefer flash --margin 0.1)

search() {
  if ls results/exports/"$1"/rank1_*/arch.json >/dev/null 2>&1; then echo "$1: done"; else search_or_resume "$@"; fi
}
confirm() {  # ID, label: done once every seed has its weights (one look, not repeated)
  local arch; arch=$(ls results/exports/"$1"/rank1_*/arch.json)
  local out; out="results/confirm/$2-$(trial_of "$arch")"
  if ls "$out"/seed{0,1,2,3,4}/model.pt >/dev/null 2>&1; then echo "$out: done"; return; fi
  train_or_resume "$out" nas train "$arch" --epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs "$JOBS" --out "$out"
}
case $what in
  search) search mcu8k "${BOUND[@]}" --strategy evolution --cpu-hours 1.5 --concurrency 1 --fix bn=true \
            --controls none --warm-start none --rungs 4x20000/val_acc_best,15x55000:2 --port 8194; exit ;;
  confirm) confirm mcu8k mcu8k; exit ;;
  all) "$0" search && "$0" confirm ;;
  *) echo "usage: mcu8k.sh [all|search|confirm]" >&2; exit 2 ;;
esac
