"""One trial of the dense recipe search on the Fashion-MNIST scenes, scored on the validation scenes.

Trains the UperNet (``--task segmentation``) or Mask R-CNN (``--task detection``) scene config
through ``tools/train.py`` (from a pre-training checkpoint, or from scratch without one),
validates on the 1,000 validation scenes every ``--val-interval`` iterations, scores the last
checkpoint on them once more and writes ``<out-dir>/<name>.json`` with the exact options, the
validation curve, the logged loss and the per-class values (:mod:`cmae_mm.study.dense_search`).
The test scenes are never read. A finished work dir is only re-scored; an unfinished one resumes.

Usage:
    # the pre-trained arm
    python tools/analysis/scenes_recipe_search.py --name upernet_mae5e_lr2e-3_ld0.9_1500 \\
        --checkpoint work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth \\
        --iters 1500 --warmup 75 --val-interval 250 \\
        --set optim_wrapper.optimizer.lr=2e-3 optim_wrapper.paramwise_cfg.layer_decay_rate=0.9
    # the from-scratch control: no checkpoint, its own lr and no layer decay
    python tools/analysis/scenes_recipe_search.py --name upernet_scratch_lr4e-3_ld1.0_1500 \\
        --iters 1500 --warmup 75 --val-interval 250 \\
        --set optim_wrapper.optimizer.lr=4e-3 optim_wrapper.paramwise_cfg.layer_decay_rate=1.0
    # the table of every record in the out dir (the README's)
    python tools/analysis/scenes_recipe_search.py --table
"""
import argparse
import sys

from mmengine.config import DictAction

from cmae_mm.study.dense import TASKS
from cmae_mm.study.dense_search import recipe_table, recipe_trial


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', help='trial name (its record and work dir)')
    parser.add_argument('--table', action='store_true',
                        help='print the markdown table of the records in --out-dir and stop')
    parser.add_argument('--task', choices=sorted(TASKS), default='segmentation')
    parser.add_argument('--config', help='dense config (default: the task\'s scene config)')
    parser.add_argument('--checkpoint', help='pre-training checkpoint (none: from scratch)')
    parser.add_argument('--iters', type=int, help='training iterations')
    parser.add_argument('--warmup', type=int, help='warm-up iterations (default: the '
                        'config\'s share)')
    parser.add_argument('--val-interval', type=int, help='iterations between validations')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', help='scene folder (default: the config\'s)')
    parser.add_argument('--work-root', default='work_dirs/scenes_recipe',
                        help='the trial trains in <work-root>/<name>')
    parser.add_argument('--out-dir', default='docs/results/fmnist_scenes_recipe',
                        help='folder of the records')
    parser.add_argument('--set', nargs='+', action=DictAction, default={},
                        help='further --cfg-options of the trial (lr, layer decay, ...)')
    args = parser.parse_args()
    if args.table:
        print(recipe_table(args.out_dir))
        return 0
    if not args.name or not args.iters:
        parser.error('--name and --iters are required to run a trial (or --table)')
    try:
        result = recipe_trial(args.name, f'{args.work_root}/{args.name}', args.out_dir,
                              task=args.task, config=args.config, checkpoint=args.checkpoint,
                              iters=args.iters, warmup=args.warmup,
                              val_interval=args.val_interval, cfg_options=dict(args.set),
                              seed=args.seed, data_root=args.data_root)
    except FileNotFoundError as e:  # a missing checkpoint or scene set: one line
        print(f'scenes_recipe_search: {e}', file=sys.stderr)
        return 2
    curve = ', '.join(f'{v["iteration"]}: {list(v.values())[1]}' for v in result['validation'])
    print(f'{args.name}: validation curve {curve}; written {args.out_dir}/{args.name}.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
