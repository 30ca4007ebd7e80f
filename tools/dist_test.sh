#!/usr/bin/env bash
# Distributed testing with torchrun: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py args...]
# Environment: NNODES, NODE_RANK, MASTER_ADDR, PORT (see tools/dist_launch.sh).
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py arguments...]" >&2
  exit 2
fi
CONFIG=$1 CHECKPOINT=$2 GPUS=$3
shift 3
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" tools/test.py "$GPUS" "$CONFIG" "$CHECKPOINT" "$@"
