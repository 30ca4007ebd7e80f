"""What ``tools/train.py`` and ``tools/test.py`` do with their parsed command line.

The tools only parse arguments (mmpretrain's command line) and call :func:`train` or :func:`test`;
every error a user can cause (bad paths, bad config values, unknown types, unsafe checkpoints, an
existing work dir) ends the tool with one ``tools/<tool>.py: error: ...`` line and exit status 1.
Only the suite's own input errors (:data:`USER_ERRORS`) are reported that way: any other exception,
a ``ValueError`` from inside training included, keeps its traceback.
"""
import argparse
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from .atomic_io import DiskFullError
from .checkpoint import CheckpointMismatchError, UnsafeCheckpointError
from .compile import compile_options
from .cpu_compat import LauncherEnvError, MMCVOpsError
from .errors import ConfigError
from .hooks import NonFiniteLossError
from .keep_batch import apply_auto_scale_lr, apply_keep_batch
from .pretrained import apply_pretrained
from .runner import (UnknownTypeError, load_config, prepare_config, register_scope, run,
                     set_local_rank)

__all__ = ['USER_ERRORS', 'apply_train_args', 'test', 'train']

#: Exceptions that mean "the input is wrong", reported as one line instead of a traceback (the
#: suite's own classes; :class:`~cmae_mm.engine.errors.ConfigError` is raised where the config and
#: the command line are validated, ``ScheduleMismatchError`` is one).
USER_ERRORS = (CheckpointMismatchError, ConfigError, DiskFullError, FileExistsError, FileNotFoundError,
               LauncherEnvError, MMCVOpsError, NonFiniteLossError, UnknownTypeError,
               UnsafeCheckpointError)


def _fail(tool: str, error: object) -> None:
    sys.exit(f'{tool}: error: {error}')


def apply_train_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply ``--amp``, ``--resume`` (``--resume-schedule``), ``--compile``, ``--no-validate``,
    ``--keep-batch``, ``--auto-scale-lr`` and ``--pretrained``.

    ``--compile`` sets ``compile.target='forward'`` (keeping the config's other ``compile``
    keywords): :class:`~cmae_mm.engine.compile.CMAERunner` compiles the model's forward and the
    optimizer step stays eager. The config's ``compile`` value is checked here.

    ``--keep-batch`` keeps the recipe's total batch (``auto_scale_lr.base_batch_size``) on the
    launcher's number of processes by gradient accumulation, with schedules that count optimizer
    steps (:func:`~cmae_mm.engine.keep_batch.apply_keep_batch`). ``--auto-scale-lr`` scales the lr
    by the effective batch, accumulation included
    (:func:`~cmae_mm.engine.keep_batch.apply_auto_scale_lr`). ``--pretrained`` points the
    encoder's ``init_cfg`` at a checkpoint, loaded strictly
    (:func:`~cmae_mm.engine.pretrained.apply_pretrained`).

    Args:
        cfg: The config, modified in place.
        args: The parsed command line.

    Raises:
        ConfigError: ``--amp`` with a non-standard optimiser wrapper, or ``--auto-scale-lr`` with
            a config that has no ``auto_scale_lr.base_batch_size``.
        ConfigError: An unsupported ``compile`` value
            (:func:`~cmae_mm.engine.compile.compile_options`).
        ConfigError: ``--keep-batch`` with a total batch that the processes' batch does not
            divide, or a config it cannot keep (one line naming the numbers).
        ConfigError, CheckpointMismatchError: ``--pretrained`` with a config or a checkpoint it
            cannot use.
    """
    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ConfigError(f'--amp needs optim_wrapper type OptimWrapper or AmpOptimWrapper, '
                              f'the config has {wrapper_type!r}')
        if not torch.cuda.is_available():
            print_log('--amp: no CUDA device; AMP is for GPUs (bf16 autocast on these CPUs is far '
                      'slower than fp32), training in fp32', logger='current', level=logging.WARNING)
        elif wrapper_type == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if getattr(args, 'resume_schedule', None) is not None:
        cfg.resume_schedule = args.resume_schedule
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None  # the Runner picks the latest checkpoint of the work dir
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if getattr(args, 'compile', False):
        # keep the config's torch.compile keywords, if any; only the forward is compiled
        cfg.compile = cfg.get('compile') if isinstance(cfg.get('compile'), dict) else {}
        cfg.compile.setdefault('target', 'forward')
    compile_options(cfg.get('compile'))  # an unsupported value stops here, in one line

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    launcher = getattr(args, 'launcher', 'none')
    if getattr(args, 'keep_batch', False):
        apply_keep_batch(cfg, args.config, launcher)

    if args.auto_scale_lr:
        auto_scale_lr = cfg.get('auto_scale_lr')
        if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the '
                              'config (the total batch size its learning rate is set for)')
        apply_auto_scale_lr(cfg, launcher)
    elif (cfg.get('auto_scale_lr') or {}).get('enable') and 'base_batch_size' in cfg.auto_scale_lr:
        apply_auto_scale_lr(cfg, launcher)  # enabled by the config: the same effective batch

    if getattr(args, 'pretrained', None) is not None:
        register_scope(cfg)  # the backbone's type is looked up in the config's registry
        apply_pretrained(cfg, args.pretrained)


def check_train_paths(args: argparse.Namespace) -> Optional[str]:
    """Check the files named on the command line before any config is read.

    Args:
        args: The parsed command line.

    Returns:
        An error message, or None if the config and a local ``--resume`` or ``--pretrained``
        checkpoint exist.
    """
    if not Path(args.config).is_file():
        return f'config file not found: {args.config}'
    resume = args.resume
    if resume not in (None, 'auto') and '://' not in resume and not Path(resume).is_file():
        return f'--resume checkpoint not found: {args.resume}'
    pretrained = getattr(args, 'pretrained', None)
    if pretrained is not None and '://' not in pretrained and not Path(pretrained).is_file():
        return f'--pretrained checkpoint not found: {pretrained}'
    return None


def enable_visualization(cfg: Config, scope: str, show_dir: str) -> None:
    """Make the config's visualisation hook draw test predictions into ``show_dir``.

    Each library names the switch and the output directory differently: mmpretrain's
    ``VisualizationHook`` takes ``enable``/``out_dir`` (and draws every ``interval``-th sample:
    set to 1), mmdet's ``DetVisualizationHook``
    ``draw``/``test_out_dir``, and mmseg's ``SegVisualizationHook`` draws into the visualizer's
    ``save_dir``.

    Args:
        cfg: The config, modified in place.
        scope: The config's default scope.
        show_dir: Output directory.

    Raises:
        ConfigError: If the config has no ``default_hooks.visualization``.
    """
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise ConfigError('--show-dir needs a visualization hook in default_hooks')
    if scope == 'mmpretrain':
        hook.update(enable=True, interval=1, out_dir=show_dir)
    elif scope == 'mmdet':
        hook.update(draw=True, test_out_dir=show_dir)
    else:  # mmseg
        hook.update(draw=True)
        cfg.visualizer.save_dir = show_dir


def add_dump_metric(runner: Runner, scope: str, out: str) -> None:
    """Append a metric that dumps the test predictions to ``out``.

    Args:
        runner: The runner (its test loop is built here).
        scope: The config's default scope (mmdet has its own dump format).
        out: Pickle file path.
    """
    if scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults as Dump
    else:
        from mmengine.evaluator import DumpResults as Dump
    metric = Dump(out_file_path=out)
    runner.test_evaluator.metrics.append(metric)


def check_test_paths(args: argparse.Namespace) -> Optional[str]:
    """Check the files named on the command line before any config is read.

    Args:
        args: The parsed command line.

    Returns:
        An error message, or None if the config and a local checkpoint exist and ``--out`` is a
        pickle file name.
    """
    if not Path(args.config).is_file():
        return f'config file not found: {args.config}'
    if '://' not in args.checkpoint and not Path(args.checkpoint).is_file():
        return f'checkpoint not found: {args.checkpoint}'
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        return f'--out must be a .pkl or .pickle file, got {args.out}'
    if args.out is not None and Path(args.out).exists() and not args.force:
        return f'--out {args.out} exists; pass --force to overwrite it'
    return None


def train(args: argparse.Namespace) -> None:
    """Train as ``tools/train.py``'s parsed command line says.

    Args:
        args: ``config``, ``work_dir``, ``resume``, ``amp``, ``compile``, ``no_validate``,
            ``keep_batch``, ``auto_scale_lr``, ``pretrained``, ``cfg_options``, ``launcher``,
            ``local_rank``.
    """
    tool = 'tools/train.py'
    error = check_train_paths(args)
    if error:
        _fail(tool, error)
    set_local_rank(args.local_rank)
    try:
        cfg = load_config(args.config, args.cfg_options)
        apply_train_args(cfg, args)
        prepare_config(cfg, args.config, args.work_dir, args.launcher)
        run(cfg, 'train')
    except USER_ERRORS as e:
        _fail(tool, e)


def test(args: argparse.Namespace) -> None:
    """Test as ``tools/test.py``'s parsed command line says.

    Args:
        args: ``config``, ``checkpoint``, ``work_dir``, ``out``, ``force``, ``show_dir``,
            ``cfg_options``, ``perturb``, ``perturb_seed``, ``perturb_patch_size``, ``launcher``,
            ``local_rank``.
    """
    tool = 'tools/test.py'
    error = check_test_paths(args)
    if error:
        _fail(tool, error)
    set_local_rank(args.local_rank)
    try:
        cfg = load_config(args.config, args.cfg_options)
        for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
            if cfg.get(key) is None:
                raise ConfigError(f'the config has no {key}: it cannot be tested')
        cfg.load_from = args.checkpoint
        cfg.resume = False
        if args.perturb is not None:
            cfg.test_cfg = dict(type='RobustnessTestLoop', perturbations=args.perturb,
                                seed=args.perturb_seed, patch_size=args.perturb_patch_size)
        scope = prepare_config(cfg, args.config, args.work_dir, args.launcher)
        if args.show_dir is not None:
            enable_visualization(cfg, scope, args.show_dir)
        prepare = None if args.out is None else partial(add_dump_metric, scope=scope, out=args.out)
        run(cfg, 'test', prepare)
    except USER_ERRORS as e:
        _fail(tool, e)
