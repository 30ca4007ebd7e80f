"""One trial of the Fashion-MNIST fine-tuning recipe search, scored on the validation split.

Fine-tunes a classification config through ``tools/train.py`` on the labelled subset of a seed
(drawn from the training images outside the validation split), scores the last checkpoint with
``tools/test.py`` on the held-out validation split (10,000 training images, never the test images)
and appends one JSON line (trial name, arm, options, validation top-1, wall time) to ``--out``.
Both tools run as subprocesses, exactly as the study's ``finetune`` evaluation runs them, so the
recipe chosen here is the one the study then scores on the test images.

Usage:
    # the pre-trained arm: a pre-training checkpoint, the fine-tuning config's recipe
    python tools/analysis/fmnist_finetune_search.py --name pt_100e --epochs 100 \\
        --checkpoint work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth
    # the from-scratch arm: its own config (no layer decay), a length and an lr of its own
    python tools/analysis/fmnist_finetune_search.py --name scratch_200e_lr2e-3 --epochs 200 \\
        --config configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py \\
        --set optim_wrapper.optimizer.lr=2e-3
"""
import argparse
import json
import sys
import time
from pathlib import Path

from mmengine.config import DictAction

from cmae_mm.study.evaluations import (FINETUNE_CONFIG, subset_options, finetune_top1,
                                       schedule_options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', required=True, help='trial name (its work dir)')
    parser.add_argument('--config', default=FINETUNE_CONFIG, help='classification config')
    parser.add_argument('--checkpoint', help='pre-training checkpoint (none: from scratch)')
    parser.add_argument('--epochs', type=int, required=True, help='fine-tuning epochs')
    parser.add_argument('--seed', type=int, default=0, help='training seed = subset seed')
    parser.add_argument('--labels-per-class', type=int, default=100)
    parser.add_argument('--data-root', help='Fashion-MNIST root (default: the config\'s)')
    parser.add_argument('--set', nargs='+', action=DictAction, default={},
                        help='further --cfg-options of the trial (key=value)')
    parser.add_argument('--work-root', default='work_dirs/fmnist_finetune_search')
    parser.add_argument('--out', default='work_dirs/fmnist_finetune_search/trials.jsonl')
    args = parser.parse_args()

    options = subset_options(args.seed, args.labels_per_class, args.data_root)
    options.update(schedule_options(args.epochs))
    options.update(args.set)
    if args.checkpoint:
        if not Path(args.checkpoint).is_file():
            print(f'error: --checkpoint {args.checkpoint}: no such file', file=sys.stderr)
            return 2
        options['model.backbone.init_cfg.checkpoint'] = args.checkpoint
    else:
        options['model.backbone.init_cfg'] = None
    t0 = time.time()
    top1 = finetune_top1(args.config, Path(args.work_root) / args.name, options, score_on='val')
    trial = dict(name=args.name, arm='pretrained' if args.checkpoint else 'scratch',
                 config=args.config, checkpoint=args.checkpoint, epochs=args.epochs,
                 seed=args.seed, labels_per_class=args.labels_per_class, options=args.set,
                 val_top1=round(top1, 4), wall_time_s=round(time.time() - t0, 1),
                 finished_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, 'a') as f:
        f.write(json.dumps(trial) + '\n')
    print(f'{args.name}: validation top-1 {top1:.2f} % ({trial["wall_time_s"]:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
