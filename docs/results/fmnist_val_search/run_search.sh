#!/usr/bin/env bash
# The validation recipe search of the Fashion-MNIST fine-tuning, as it was run (one seed, seed 0's
# labelled subset, 1 thread per trial, the two arms side by side on 2 cores): every trial is
# scored on the held-out validation split, never on the test images. trials.jsonl holds the
# results; README.md reads them.
#   bash docs/results/fmnist_val_search/run_search.sh pretrained   # needs fmnist_pt5e/mae_seed0
#   bash docs/results/fmnist_val_search/run_search.sh scratch
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY="${PY:-.venv/bin/python}"
OUT=docs/results/fmnist_val_search/trials.jsonl
FT=configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py
MIX=configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e-mixup_fashion-mnist.py
SCRATCH=configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py
CKPT=work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth
trial() { "$PY" tools/analysis/fmnist_finetune_search.py --out "$OUT" "$@"; }
case "${1:?pretrained or scratch}" in
  pretrained)  # MAE L(0; 0.75), 5 pre-training epochs; layer decay 0.75, lr 1e-3
    trial --name pt_30e --config "$FT" --checkpoint "$CKPT" --epochs 30
    trial --name pt_100e --config "$FT" --checkpoint "$CKPT" --epochs 100
    ;;
  scratch)  # no layer decay; lr 1e-3
    trial --name scratch_100e --config "$SCRATCH" --epochs 100
    trial --name scratch_200e --config "$SCRATCH" --epochs 200
    ;;
  *) echo "unknown arm $1: pretrained or scratch" >&2; exit 2 ;;
esac
