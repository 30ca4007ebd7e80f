#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh: run a tool under torchrun.
#   bash tools/dist_launch.sh TOOL NPROC [tool arguments...]
#
# NPROC is the number of processes per node (on a machine without CUDA: CPU processes, gloo).
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT.
# With NNODES=1 and no PORT, torchrun's standalone rendezvous picks a free port, so two
# single-node jobs on one machine never collide; set PORT (and MASTER_ADDR) for multi-node jobs.
# Uses <repo>/.venv/bin/python if it exists, else python.
set -euo pipefail

TOOL=$1
NPROC=$2
shift 2
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
  echo "$(basename "$TOOL" .py): GPUS must be a positive integer (processes per node), got '$NPROC'" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

NNODES="${NNODES:-1}"
if [[ "$NNODES" == 1 && -z "${PORT:-}" ]]; then
  RDZV=(--standalone)
else
  RDZV=(--nnodes="$NNODES" --node_rank="${NODE_RANK:-0}"
        --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}")
fi
exec "$PYTHON" -m torch.distributed.run "${RDZV[@]}" --nproc_per_node="$NPROC" \
  "$ROOT/$TOOL" "$@" --launcher pytorch
