#!/usr/bin/env bash
# int8 accuracy of the hand-made models (issue 39's device table): their committed protocol runs
# (results/baselines/expN, seeds 0-4) kept no weights, so each trains once more under the protocol
# (60,000 images, 15 epochs, seed 0, the test set read every epoch as any baseline does) and its
# final weights are quantized and scored like every confirmation's (nas/deploy/int8.py). One seed
# each, said so in the table. Resumable: a finished model says "done".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
for name in ${NAMES:-exp3 exp4 exp2 exp1}; do
  # `nas baselines` trains under the default recipe, as results/baselines did (`nas train expN` would
  # take the seed's own recipe)
  # THREADS=1 lets it share the machine with another training (thread counts change only the last bits)
  train_once "results/int8-handmade/$name" nas baselines --names "$name" --seeds 0 --epochs 15 --set val_size=0 \
    ${THREADS:+--set threads=$THREADS} --out results/int8-handmade
done
