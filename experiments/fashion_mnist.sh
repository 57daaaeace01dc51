#!/usr/bin/env bash
# Fashion-MNIST at 20,000 parameters, at most 3 CPU-hours on 2 cores (README "Other datasets"), into
# results/fashion-mnist/. Resumable: run it again after a stop (each step resumes what it finds).
# Data: Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, or `apt-get download`
# + `dpkg -x` and FASHION_DIR=<its usr/share/datasets/fashion-mnist>); never committed.
#
#   bash experiments/fashion_mnist.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RESULTS=results/fashion-mnist
DATA=(--dataset fashion-mnist ${FASHION_DIR:+--data-dir "$FASHION_DIR"})

# Rules, fixed before the runs. The search: multi-fidelity (2 epochs x 20,000 images, then 6 epochs
# x 55,000 x 2 seeds), eta 3, sized to 1.2 CPU-hours, evolution, 10,000-20,000 parameters, exp3 raced
# at the last rung; everything chosen on the validation split.
search_or_resume fm20k "${DATA[@]}" --max-params 20000 --min-params 10000 \
  --strategy evolution --cpu-hours 1.2 --rungs 2x20000,6x55000:2 --eta 3 \
  --controls exp3 --race-cap 3 --race-min 2
# Its pick (the race's, or the best at the last rung) and the four hand-made baselines under one
# recipe (the default), 15 epochs on all 60,000 training images, seeds 0 and 1: one look at the
# Fashion-MNIST test set (final test accuracy per seed and the mean).
arch=$(ls "$RESULTS"/exports/fm20k/rank1_*/arch.json)
out="$RESULTS/runs/pick-$(trial_of "$arch")"
train_or_resume "$out" nas train "$arch" "${DATA[@]}" --epochs 15 --seeds 0,1 --set val_size=0 --jobs 2 --out "$out"
for b in exp1 exp2 exp3 exp4; do
  train_or_resume "$RESULTS/baselines/$b" nas baselines --names "$b" "${DATA[@]}" --epochs 15 --seeds 0,1 \
    --set val_size=0 --jobs 2 --out "$RESULTS/baselines"
done
nas report --results results
