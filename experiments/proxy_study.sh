#!/usr/bin/env bash
# The proxy study behind the multi-fidelity search's rungs (nas/proxy.py states its rules):
# 30 random 4k-8k architectures, each at full fidelity (seeds 0, 1) and at 7 proxies. Resumable:
# run it again after a stop and it trains only what is missing. On a GPU machine:
#   NAS_DEVICE=cuda JOBS=8 bash results/run_proxy_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
$NAS proxy-study --results results --jobs "${JOBS:-2}"
$NAS report --results results
