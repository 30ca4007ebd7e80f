#!/usr/bin/env bash
# Distributed training with torchrun: bash tools/dist_train.sh CONFIG GPUS [tools/train.py args...]
#
# GPUS is the number of processes per node (on a machine without CUDA: CPU processes, gloo backend).
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# Uses <repo>/.venv/bin/python if it exists, else python.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS [tools/train.py arguments...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: GPUS must be a positive integer (processes per node), got '$GPUS'" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${PORT:-29500}" \
  --nproc_per_node="$GPUS" \
  "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
