"""``tools/train.py --keep-batch``: a config's total batch on fewer processes (accumulation).

A recipe's total batch is its ``auto_scale_lr.base_batch_size`` (every pre-training config of the
suite with a multi-GPU recipe sets it; a config without it is refused, naming it). On ``P``
processes with a per-GPU ``train_dataloader.batch_size`` of ``b`` the accumulation is
``A = total / (b x P)``, set as mmengine's ``optim_wrapper.accumulative_counts``. ``P`` is known
before the Runner exists from the launcher's environment: ``WORLD_SIZE`` (torchrun,
``--launcher pytorch``), ``SLURM_NTASKS`` (``--launcher slurm``), ``OMPI_COMM_WORLD_SIZE``
(``--launcher mpi``), 1 without a launcher; the Runner's world size is checked against it when
training starts.

What mmengine 0.10.7 does with ``accumulative_counts`` (read in ``mmengine/optim/optimizer/
optimizer_wrapper.py``, ``hooks/param_scheduler_hook.py``, ``runner/runner.py``), and what is
therefore set here:

* ``OptimWrapper.update_params`` divides each loss by ``A``, adds the gradients of ``A``
  iterations (DDP all-reduces only on the last, ``optim_context`` uses ``no_sync``) and steps the
  optimizer on every ``A``-th iteration and on the last iteration of the run. The windows are
  counted over the whole run (``initialize_count_status(iter, max_iters)``), not per epoch. With
  a per-sample mean loss, one window's gradient is the gradient of the recipe's total batch.
* An epoch keeps its images, so it has ``A`` times the recipe's iterations and the same number of
  optimizer steps; the epoch count (``train_cfg.max_epochs``) is unchanged. An iteration-based
  loop (``max_iters``) would count micro-batches: refused.
* ``ParamSchedulerHook`` steps every ``by_epoch=False`` scheduler after *every* iteration, whether
  or not the optimizer stepped, and the Runner converts ``convert_to_iter_based`` schedulers with
  ``epoch_length = len(train_dataloader)``, ``A`` times the recipe's. Left alone:

  - epoch schedulers (``by_epoch=True``) step per epoch: unchanged, correct;
  - converted schedulers would span the right epochs, but in micro-batches: optimizer step ``k``
    would use the value at iteration ``(k+1)A - 1``, and mmengine's closed forms are not
    time-scaled copies of each other (``LinearLR`` reaches its end at ``end - begin - 1``: with a
    2-step warm-up step 1 has factor 1.0, iteration 4 of 8 has 0.1 + 0.9 x 4/7);
  - native iteration schedulers (``by_epoch=False``, e.g. mmdet's 500-iteration linear warm-up)
    would count micro-batches: the warm-up would end after ``500 / A`` optimizer steps.

  :class:`~cmae_mm.engine.hooks.OptimStepParamSchedulerHook` replaces the config's
  ``ParamSchedulerHook``: it rebuilds the schedulers (mmengine's ``build_param_scheduler``) with
  ``epoch_length = len(train_dataloader) / A`` for the converted ones, and steps every iteration
  scheduler once per optimizer step. Every schedule then counts optimizer steps: step ``k`` uses
  the recipe's value at its step ``k`` (tests/test_keep_batch.py checks the weights).
* ``Runner.scale_lr`` (``--auto-scale-lr``) scales by ``b x P / base_batch_size``, without the
  accumulation: :func:`apply_auto_scale_lr` scales by the effective batch ``b x P x A`` instead.
* ``EMAHook`` updates its average after every iteration: its ``interval`` (mmengine's
  ``BaseAveragedModel`` argument) and ``begin_iter`` are multiplied by ``A``, so it averages the
  weights of each optimizer step once.

The split into ``(b, P, A)`` is logged once as ``effective batch: b per GPU x P processes x A
accumulation = T`` and stored as ``cfg.effective_batch`` (so it is in the dumped config).
"""
import copy
import logging
import os
from pathlib import Path
from typing import Any, Dict, List

from mmengine.config import Config
from mmengine.logging import print_log

from .cpu_compat import LauncherEnvError
from .errors import ConfigError

__all__ = ['WORLD_SIZE_VARIABLES', 'apply_auto_scale_lr', 'apply_keep_batch',
           'effective_batch_line', 'keep_batch_accumulation', 'world_size_from_env']

#: The environment variable that holds the number of processes, per ``--launcher``.
WORLD_SIZE_VARIABLES = {'pytorch': 'WORLD_SIZE', 'slurm': 'SLURM_NTASKS',
                        'mpi': 'OMPI_COMM_WORLD_SIZE'}
#: Default hooks ``--keep-batch`` may replace by its scheduler hook.
STANDARD_SCHEDULER_HOOKS = ('ParamSchedulerHook', 'OptimStepParamSchedulerHook')


def world_size_from_env(launcher: str) -> int:
    """The number of training processes, from the launcher's environment (before any Runner).

    Args:
        launcher: ``--launcher``: ``'none'`` (1 process), ``'pytorch'`` (torchrun's
            ``WORLD_SIZE``), ``'slurm'`` (``SLURM_NTASKS``) or ``'mpi'``
            (``OMPI_COMM_WORLD_SIZE``).

    Returns:
        The number of processes.

    Raises:
        LauncherEnvError: If the launcher's variable is not set.
        ConfigError: For an unknown launcher or a value that is not a positive integer.
    """
    if launcher == 'none':
        return 1
    if launcher not in WORLD_SIZE_VARIABLES:
        raise ConfigError(f"unknown launcher {launcher!r}; choose from none, "
                          f"{', '.join(WORLD_SIZE_VARIABLES)}")
    name = WORLD_SIZE_VARIABLES[launcher]
    value = os.environ.get(name)
    if value is None:
        raise LauncherEnvError(
            f'--launcher {launcher} gives the number of processes in {name}, which is not set; '
            f'start the run with its launcher (tools/dist_train.sh for torchrun, '
            f'tools/slurm_train.sh for slurm), or run without --launcher for one process')
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f'{name}={value!r} is not a number of processes (a positive integer)')
    return int(value)


def keep_batch_accumulation(total: int, per_gpu: int, processes: int) -> int:
    """Gradient accumulation that makes ``per_gpu x processes`` add up to ``total``.

    Args:
        total: The recipe's total batch (``auto_scale_lr.base_batch_size``).
        per_gpu: ``train_dataloader.batch_size``.
        processes: Number of training processes.

    Returns:
        ``total // (per_gpu * processes)``.

    Raises:
        ConfigError: In one line naming the three numbers, if ``per_gpu x processes`` exceeds
            ``total`` or does not divide it.
    """
    for name, value in (('total batch', total), ('per-GPU batch', per_gpu),
                        ('process count', processes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f'--keep-batch needs a positive integer {name}, got {value!r}')
    step = per_gpu * processes
    if step > total:
        raise ConfigError(
            f'--keep-batch: {per_gpu} per GPU x {processes} processes = {step} exceeds the '
            f'recipe\'s total batch {total}; use fewer processes or a smaller '
            f'train_dataloader.batch_size')
    if total % step:
        raise ConfigError(
            f'--keep-batch: the recipe\'s total batch {total} is not a multiple of {per_gpu} per '
            f'GPU x {processes} processes = {step}; use a process count and '
            f'train_dataloader.batch_size whose product divides {total}')
    return total // step


def _recipe_total(cfg: Config, config: str) -> int:
    """``auto_scale_lr.base_batch_size``, or a one-line error naming the config."""
    auto_scale_lr = cfg.get('auto_scale_lr') or {}
    total = auto_scale_lr.get('base_batch_size')
    if total is None:
        raise ConfigError(
            f'--keep-batch keeps the total batch of the recipe, which {Path(config).name} does not '
            f'state (no auto_scale_lr.base_batch_size); give it with --cfg-options '
            f'auto_scale_lr.base_batch_size=<total batch>')
    return total


def _scheduler_list(cfg: Config) -> List[dict]:
    """The config's parameter schedulers as the list the Runner builds (same order)."""
    schedulers = cfg.get('param_scheduler')
    if schedulers is None:
        return []
    if isinstance(schedulers, dict):
        if 'type' not in schedulers:
            raise ConfigError('--keep-batch supports one optimizer; param_scheduler is a dict of '
                              f'per-optimizer schedules ({", ".join(schedulers)})')
        return [schedulers]
    return list(schedulers)


def _check_epoch_based(cfg: Config, config: str) -> None:
    train_cfg = cfg.get('train_cfg') or {}
    loop = train_cfg.get('type')
    if train_cfg.get('by_epoch', True) is False or loop not in (None, 'EpochBasedTrainLoop'):
        raise ConfigError(
            f'--keep-batch needs an epoch-based train loop (EpochBasedTrainLoop); '
            f'{Path(config).name} has {loop or "by_epoch=False"}, whose max_iters would count '
            f'micro-batches, not optimizer steps')


def _scale_ema_hooks(cfg: Config, accumulation: int) -> List[str]:
    """Make every ``EMAHook`` average once per optimizer step (interval, begin_iter x A)."""
    changed = []
    for hook in cfg.get('custom_hooks') or []:
        if isinstance(hook, dict) and str(hook.get('type', '')).split('.')[-1] == 'EMAHook':
            hook['interval'] = hook.get('interval', 1) * accumulation
            if hook.get('begin_iter'):
                hook['begin_iter'] = hook['begin_iter'] * accumulation
            changed.append(f"EMAHook interval {hook['interval']}")
    return changed


def apply_keep_batch(cfg: Config, config: str, launcher: str) -> Dict[str, int]:
    """Set gradient accumulation so the run keeps the recipe's total batch (``--keep-batch``).

    Sets ``optim_wrapper.accumulative_counts``, replaces ``default_hooks.param_scheduler`` by
    :class:`~cmae_mm.engine.hooks.OptimStepParamSchedulerHook` (schedules count optimizer steps;
    see the module docstring), scales ``EMAHook`` intervals, and stores
    ``cfg.effective_batch = dict(per_gpu=b, processes=P, accumulation=A, total=T)``.

    Args:
        cfg: The config, modified in place.
        config: Path of the config file (for messages).
        launcher: ``--launcher`` (gives the number of processes, :func:`world_size_from_env`).

    Returns:
        ``cfg.effective_batch`` as a plain dict.

    Raises:
        ConfigError: No ``auto_scale_lr.base_batch_size``; a per-GPU batch x process count that
            exceeds or does not divide it; an iteration-based loop; several optimizers; a
            ``default_hooks.param_scheduler`` of another type.
        LauncherEnvError: The launcher's process-count variable is missing.
    """
    total = _recipe_total(cfg, config)
    per_gpu = (cfg.get('train_dataloader') or {}).get('batch_size')
    processes = world_size_from_env(launcher)
    accumulation = keep_batch_accumulation(total, per_gpu, processes)
    _check_epoch_based(cfg, config)

    optim_wrapper = cfg.get('optim_wrapper')
    if not isinstance(optim_wrapper, dict) or 'optimizer' not in optim_wrapper:
        raise ConfigError('--keep-batch supports one optimizer (optim_wrapper.optimizer); the '
                          'config has none or a dict of optimizer wrappers')
    _scheduler_list(cfg)  # one optimizer's list
    if cfg.get('resume_schedule') == 'config':
        raise ConfigError('--keep-batch with --resume-schedule config is not supported: the '
                          'replayed schedule would count iterations, not optimizer steps')
    default_hooks = cfg.get('default_hooks')
    if default_hooks is None:
        cfg.default_hooks = default_hooks = {}
    hook = default_hooks.get('param_scheduler') or {}
    hook_type = str(hook.get('type', 'ParamSchedulerHook')).split('.')[-1]
    if hook_type not in STANDARD_SCHEDULER_HOOKS:
        raise ConfigError(f'--keep-batch replaces default_hooks.param_scheduler, which must be '
                          f'ParamSchedulerHook; the config has {hook_type!r}')

    optim_wrapper['accumulative_counts'] = accumulation
    effective = dict(per_gpu=per_gpu, processes=processes, accumulation=accumulation, total=total)
    cfg.effective_batch = effective
    default_hooks['param_scheduler'] = dict(type='OptimStepParamSchedulerHook',
                                            effective_batch=copy.deepcopy(effective))
    ema = _scale_ema_hooks(cfg, accumulation) if accumulation > 1 else []
    if ema:
        print_log(f'--keep-batch: {", ".join(ema)} (one average per optimizer step)',
                  logger='current')
    return dict(effective)


def apply_auto_scale_lr(cfg: Config, launcher: str) -> None:
    """Make ``--auto-scale-lr`` scale by the effective batch ``b x P x A`` (accumulation included).

    Without accumulation mmengine's ``Runner.scale_lr`` is used (``auto_scale_lr.enable=True``:
    ratio ``b x P / base_batch_size``). With ``optim_wrapper.accumulative_counts = A > 1`` (set by
    ``--keep-batch`` or by the config) that ratio would miss ``A``: the optimizer's lr in the
    config is multiplied by ``b x P x A / base_batch_size`` here instead (every parameter group's
    lr is proportional to it, as mmengine's scaling of the built groups), and mmengine's own
    scaling is switched off. With ``--keep-batch`` the ratio is 1: the recipe's lr is kept.

    Args:
        cfg: The config, with ``auto_scale_lr.base_batch_size``; modified in place.
        launcher: ``--launcher`` (the number of processes, :func:`world_size_from_env`).

    Raises:
        ConfigError: With accumulation, if ``optim_wrapper.optimizer`` has no ``lr``.
    """
    auto_scale_lr = cfg.auto_scale_lr
    auto_scale_lr.enable = True
    optim_wrapper = cfg.get('optim_wrapper') or {}
    accumulation = optim_wrapper.get('accumulative_counts', 1)
    if accumulation == 1:
        return  # mmengine's Runner.scale_lr: per-GPU batch x world size is the effective batch
    optimizer = optim_wrapper.get('optimizer') or {}
    if 'lr' not in optimizer:
        raise ConfigError('--auto-scale-lr with gradient accumulation scales '
                          'optim_wrapper.optimizer.lr, which the config does not set')
    per_gpu = cfg.train_dataloader.batch_size
    processes = world_size_from_env(launcher)
    total = per_gpu * processes * accumulation
    base = auto_scale_lr.base_batch_size
    ratio = total / base
    optimizer.lr = optimizer.lr * ratio
    auto_scale_lr.enable = False  # applied here; mmengine's ratio would leave out the accumulation
    print_log(f'--auto-scale-lr: effective batch {per_gpu} per GPU x {processes} processes x '
              f'{accumulation} accumulation = {total} over base_batch_size {base}: lr x {ratio:g} '
              f'= {optimizer.lr:g}', logger='current', level=logging.INFO)


def effective_batch_line(effective: Dict[str, Any]) -> str:
    """``'effective batch: b per GPU x P processes x A accumulation = T'``."""
    return (f"effective batch: {effective['per_gpu']} per GPU x {effective['processes']} "
            f"processes x {effective['accumulation']} accumulation = {effective['total']}")
