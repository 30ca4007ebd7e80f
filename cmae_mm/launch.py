"""Config handling shared by ``tools/train.py`` and ``tools/test.py``.

Both tools accept pre-training (mmpretrain) and downstream (mmdet, mmseg) configs and pick the
library from the config's ``default_scope``.
"""
import gc
import importlib
import os
from pathlib import Path
from typing import Callable, Optional

import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .compat import apply_cpu_compat

__all__ = ['LAUNCHERS', 'RUN_MODES', 'SUPPORTED_SCOPES', 'build_runner', 'default_work_dir',
           'load_config', 'prepare_config', 'register_scope', 'run', 'set_local_rank']

SUPPORTED_SCOPES = ('mmpretrain', 'mmdet', 'mmseg')
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
RUN_MODES = ('train', 'val', 'test')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Args:
        path: The config file.
        cfg_options: ``key=value`` overrides (dotted keys), as parsed by mmengine's ``DictAction``.

    Returns:
        The config.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def register_scope(cfg: Config) -> str:
    """Register the modules of the library named by ``cfg.default_scope``.

    Calls ``<scope>.utils.register_all_modules(init_default_scope=False)``; the Runner sets the
    default scope itself from the config.

    Args:
        cfg: The config.

    Returns:
        The scope.

    Raises:
        ValueError: If the config has no ``default_scope`` or one this suite does not support.
    """
    scope = cfg.get('default_scope')
    if scope not in SUPPORTED_SCOPES:
        raise ValueError(f'config default_scope is {scope!r}; supported scopes: '
                         f'{", ".join(SUPPORTED_SCOPES)} (set default_scope in the config)')
    utils = importlib.import_module(f'{scope}.utils')
    register_all_modules = getattr(utils, 'register_all_modules', None)
    if register_all_modules is not None:
        register_all_modules(init_default_scope=False)
    return scope


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config stem>``, relative to the current directory."""
    return os.path.join('work_dirs', Path(config_path).stem)


def prepare_config(cfg: Config, config_path: str, work_dir: Optional[str], launcher: str) -> str:
    """Apply the settings common to training and testing.

    Registers the config's scope, sets the work dir (``work_dir`` argument, else the config's,
    else :func:`default_work_dir`; an existing directory is reused, never removed), the launcher,
    and the CPU shims of :func:`cmae_mm.compat.apply_cpu_compat`.

    Args:
        cfg: The config, modified in place.
        config_path: Path of the config file (for the default work dir).
        work_dir: ``--work-dir``, or None.
        launcher: ``--launcher``.

    Returns:
        The config's scope.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'unknown launcher {launcher!r}; choose from {", ".join(LAUNCHERS)}')
    scope = register_scope(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(config_path)
    cfg.launcher = launcher
    apply_cpu_compat(cfg)
    return scope


def build_runner(cfg: Config) -> Runner:
    """Build the Runner: ``cfg.runner_type`` from the RUNNERS registry if given, else mmengine's."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run(cfg: Config, mode: str, prepare: Optional[Callable[[Runner], None]] = None) -> None:
    """Build the Runner, run ``mode`` and tear the distributed process group down cleanly.

    The Runner is dropped before ``destroy_process_group()``: its DDP wrapper holds the process
    group, and a group that outlives the interpreter keeps gloo's worker threads running into
    finalization, where one still releasing a tensor aborts the process ("terminate called without
    an active exception", exit code -6) after the run itself succeeded.

    Args:
        cfg: The prepared config (see :func:`prepare_config`).
        mode: One of ``RUN_MODES``: the Runner method to call.
        prepare: Called with the built Runner before ``mode`` runs (e.g. to add a metric).

    Raises:
        ValueError: If ``mode`` is not one of ``RUN_MODES``.
    """
    if mode not in RUN_MODES:
        raise ValueError(f'mode must be one of {RUN_MODES}, got {mode!r}')
    runner = build_runner(cfg)
    if prepare is not None:
        prepare(runner)
    getattr(runner, mode)()
    del runner
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def set_local_rank(local_rank: int) -> None:
    """Export ``--local-rank`` as ``LOCAL_RANK`` unless the launcher already did."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))

