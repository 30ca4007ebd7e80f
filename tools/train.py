"""Train a model from a config: pre-training (mmpretrain) or downstream (mmdet, mmseg).

The library is chosen by the config's ``default_scope``. On a machine without CUDA the config is
adapted for CPUs (fp32, SyncBN -> BN, gloo + CPU DDP for ``--launcher pytorch/slurm/mpi``); see
:mod:`cmae_mm.compat`.

Examples::

    python tools/train.py configs/selfsup/cmae_vitb_300e.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --resume          # latest in work dir
    python tools/train.py CONFIG --resume work_dirs/run1/epoch_10.pth
    bash tools/dist_train.sh CONFIG 8 --auto-scale-lr                         # torchrun, 8 processes
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from mmengine.config import DictAction  # light: no torch

if TYPE_CHECKING:
    from mmengine.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmpretrain's ``tools/train.py`` interface).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train a model with an mmengine Runner')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: the config\'s work_dir, else work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT; without a value, from the latest checkpoint '
                        'in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training (GPUs only; fp32 is kept on CPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not validate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the total batch size over the config\'s '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (dotted keys, e.g. '
                        'train_cfg.max_epochs=1 model.backbone.drop_path_rate=0.1)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by legacy launchers; torchrun sets LOCAL_RANK instead')
    return parser.parse_args(argv)


def apply_train_args(cfg: 'Config', args: argparse.Namespace) -> None:
    """Apply ``--amp``, ``--resume``, ``--no-validate`` and ``--auto-scale-lr`` to the config.

    Args:
        cfg: The config, modified in place.
        args: The parsed command line.

    Raises:
        ValueError: ``--amp`` with a non-standard optimiser wrapper, or ``--auto-scale-lr`` with
            a config that has no ``auto_scale_lr.base_batch_size``.
    """
    import torch
    from mmengine.logging import print_log

    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp needs optim_wrapper type OptimWrapper or AmpOptimWrapper, '
                             f'the config has {wrapper_type!r}')
        if not torch.cuda.is_available():
            print_log('--amp: no CUDA device; AMP is for GPUs (bf16 autocast on these CPUs is far '
                      'slower than fp32), training in fp32', logger='current', level=logging.WARNING)
        elif wrapper_type == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None  # the Runner picks the latest checkpoint of the work dir
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.auto_scale_lr:
        auto_scale_lr = cfg.get('auto_scale_lr')
        if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the '
                             'config (the total batch size its learning rate is set for)')
        auto_scale_lr.enable = True


def check_paths(args: argparse.Namespace) -> Optional[str]:
    """Check the files named on the command line (cheap: before the heavy imports).

    Args:
        args: The parsed command line.

    Returns:
        An error message, or None if the config and a local ``--resume`` checkpoint exist.
    """
    if not Path(args.config).is_file():
        return f'config file not found: {args.config}'
    resume = args.resume
    if resume not in (None, 'auto') and '://' not in resume and not Path(resume).is_file():
        return f'--resume checkpoint not found: {args.resume}'
    return None


def main(argv: Optional[List[str]] = None) -> None:
    """Train as the command line says.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.
    """
    args = parse_args(argv)
    error = check_paths(args)
    if error:
        sys.exit(f'tools/train.py: error: {error}')
    # Arguments are checked above before the heavy imports (torch, the OpenMMLab libraries: about
    # 8 s); cmae_mm comes first of those so its compatibility layer precedes any checkpoint loading.
    import cmae_mm  # noqa: F401
    from cmae_mm.compat import LauncherEnvError
    from cmae_mm.launch import load_config, prepare_config, run, set_local_rank

    set_local_rank(args.local_rank)
    try:
        cfg = load_config(args.config, args.cfg_options)
        apply_train_args(cfg, args)
        prepare_config(cfg, args.config, args.work_dir, args.launcher)
    except (FileNotFoundError, ValueError, LauncherEnvError) as e:
        sys.exit(f'tools/train.py: error: {e}')
    run(cfg, 'train')


if __name__ == '__main__':
    main()
