#!/usr/bin/env bash
# The proxy study behind the multi-fidelity search's rungs (nas/studies/proxy.py states its rules):
# 30 random 4k-8k architectures, each at full fidelity (seeds 0, 1) and at 7 proxies, into
# results/proxy/. Resumable: run it again after a stop and it trains only what is missing.
#
#   bash experiments/proxy_study.sh
#   NAS_DEVICE=cuda JOBS=8 bash experiments/proxy_study.sh      # on a GPU machine
set -euo pipefail
source "$(dirname "$0")/lib.sh"
nas proxy-study --results results --jobs "${JOBS:-2}"
nas report --results results
