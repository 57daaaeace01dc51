#!/usr/bin/env bash
# Fashion-MNIST at 20,000 parameters, at most 3 CPU-hours on 2 cores (README "Other datasets").
# Data: Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, or `apt-get download`
# + `dpkg -x` and FASHION_DIR=<its usr/share/datasets/fashion-mnist>); never committed.
#
# Rules, fixed before the runs:
# - the search: multi-fidelity (2 epochs x 20,000 images, then 6 epochs x 55,000 x 2 seeds), eta 3,
#   sized to 1.2 CPU-hours, evolution, 10,000-20,000 parameters, exp3 raced at the last rung;
#   everything chosen on the validation split;
# - its pick (the race's, or the best at the last rung) and the four hand-made baselines then train
#   under one recipe (the tool's default), 15 epochs on all 60,000 training images, seeds 0 and 1:
#   one look at the Fashion-MNIST test set. Reported: final test accuracy per seed and the mean.
# Resumable: run it again after a stop.
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
R=results/fashion-mnist
DATA=(--dataset fashion-mnist ${FASHION_DIR:+--data-dir "$FASHION_DIR"})
if [ -f "$R/searches/fm20k/nas.json" ]; then $NAS resume fm20k --results "$R"
else
    $NAS search --id fm20k --results "$R" "${DATA[@]}" --max-params 20000 --min-params 10000 \
        --strategy evolution --cpu-hours 1.2 --rungs 2x20000,6x55000:2 --eta 3 \
        --controls exp3 --race-cap 3 --race-min 2
fi
arch=$(ls "$R"/exports/fm20k/rank1_*/arch.json)
out="$R/runs/pick-$(basename "$(dirname "$arch")" | sed 's/^rank1_//')"
again=""; [ -f "$out/config.json" ] && again="--resume"
$NAS train "$arch" "${DATA[@]}" --epochs 15 --seeds 0,1 --set val_size=0 --jobs 2 --out "$out" $again
for b in exp1 exp2 exp3 exp4; do
    again=""; [ -f "$R/baselines/$b/config.json" ] && again="--resume"
    $NAS baselines --names "$b" "${DATA[@]}" --epochs 15 --seeds 0,1 --set val_size=0 --jobs 2 \
        --out "$R/baselines" $again
done
$NAS report --results results
