#!/usr/bin/env bash
# Distributed training with torchrun: bash tools/dist_train.sh CONFIG GPUS [tools/train.py args...]
# Environment: NNODES, NODE_RANK, MASTER_ADDR, PORT (see tools/dist_launch.sh).
# The recipe's total batch on fewer GPUs (gradient accumulation, schedules in optimizer steps):
#   bash tools/dist_train.sh configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 2 --keep-batch   # 2 x 512 x 4 = 4096
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS [tools/train.py arguments...]" >&2
  exit 2
fi
CONFIG=$1 GPUS=$2
shift 2
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" tools/train.py "$GPUS" "$CONFIG" "$@"
