#!/usr/bin/env bash
# Training on a slurm cluster: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py args...]
#
# One task per GPU. Environment: GPUS (total tasks, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5),
# SRUN_ARGS (extra srun arguments, e.g. "--quotatype=auto"). With GPUS_PER_NODE=0 no GPUs are
# requested and GPUS tasks run on CPUs (gloo; set TASKS_PER_NODE, default 1).
# Uses <repo>/.venv/bin/python if it exists, else python.
# The recipe's total batch on fewer GPUs (gradient accumulation, schedules in optimizer steps):
#   GPUS=2 GPUS_PER_NODE=2 bash tools/slurm_train.sh PARTITION cmae configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py \
#       work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k --keep-batch                                   # 2 x 512 x 4 = 4096
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4

GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
read -r -a SRUN_EXTRA <<< "${SRUN_ARGS:-}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

if [[ "$GPUS_PER_NODE" -gt 0 ]]; then
  RESOURCES=(--gres="gpu:$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
else
  RESOURCES=(--ntasks-per-node="${TASKS_PER_NODE:-1}")
fi

set -x
srun -p "$PARTITION" \
  --job-name="$JOB_NAME" \
  --ntasks="$GPUS" \
  "${RESOURCES[@]}" \
  --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 \
  ${SRUN_EXTRA[@]+"${SRUN_EXTRA[@]}"} \
  "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@"
