#!/usr/bin/env bash
# GPU acceptance run, one command: builds or reuses .venv (tools/setup_env.sh), then trains every
# pre-training family for 30 iterations at its config's per-GPU batch and AMP, one iteration of
# UperNet and Mask R-CNN, and tools/dist_train.sh with 2 processes when there are 2 GPUs.
#   bash tools/gpu_check.sh [--cpu-smoke] [tools/analysis/gpu_check.py options]
# On a GPU cluster give the CUDA torch wheel index and mmcv's CUDA ops to the set-up, e.g.
#   CMAE_TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu121" CMAE_MMCV_CUDA=1 \
#       bash tools/gpu_check.sh
# Output: work_dirs/gpu_check/gpu_check.{json,md}; exit 1 naming the first failing check.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
exec "${CMAE_VENV:-$ROOT/.venv}/bin/python" tools/analysis/gpu_check.py "$@"
