"""Compatibility layer between mmengine 0.10.7 / the OpenMMLab 2.x stack and this machine's torch.

Importing :mod:`cmae_mm` imports this module first. The import itself only extends torch's
``weights_only`` allowlist (see :func:`allow_runner_checkpoints`); it is idempotent and touches
nothing else. The remaining shims act on a config and are applied by ``tools/train.py`` and
``tools/test.py`` before the :class:`~mmengine.runner.Runner` is built:

* :func:`allow_runner_checkpoints` -- torch >= 2.6 loads with ``weights_only=True`` by default
  and mmengine 0.10.7 calls ``torch.load`` without the argument, so resuming (``--resume``) or
  loading (``load_from``) a Runner checkpoint fails on its message-hub state. The allowlist holds
  exactly the globals such a checkpoint contains; ``weights_only`` stays on.
* :func:`setup_cpu_distributed` -- mmengine's launchers call ``torch.cuda.set_device`` and its
  DDP wrapper passes ``device_ids=[local_rank]``; both fail without a GPU. The gloo process group
  is initialised here instead, and the wrapper is configured for CPU.
* :func:`replace_syncbn_on_cpu` -- SyncBN layers raise on CPU inputs once a process group
  exists: rewrite them to BN.
* :func:`disable_amp_on_cpu` -- mmengine's ``AmpOptimWrapper`` asserts a GPU, and bf16 autocast
  is far slower than fp32 on CPUs without bf16 instructions: train in fp32.
"""
import logging
import os
import pickle
import subprocess
from datetime import timedelta
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'HISTORY_BUFFER_STATISTICS',
    'LauncherEnvError',
    'SYNCBN_TYPES',
    'allow_runner_checkpoints',
    'apply_cpu_compat',
    'disable_amp_on_cpu',
    'replace_syncbn_on_cpu',
    'runner_checkpoint_safe_globals',
    'setup_cpu_distributed',
]

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# The statistics every HistoryBuffer registers (mmengine pickles them as getattr(HistoryBuffer, name)).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

# Norm layer types that need GPUs: torch's SyncBatchNorm ('SyncBN') and mmcv's ('MMSyncBN').
SYNCBN_TYPES = ('SyncBN', 'MMSyncBN')

CPU_MODEL_WRAPPER = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)


# --------------------------------------------------------------------------------------------
# (a) weights_only allowlist for Runner checkpoints
# --------------------------------------------------------------------------------------------
def _history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Resolve the pickled ``getattr(HistoryBuffer, name)`` of a statistics method, and nothing else.

    A pickled :class:`HistoryBuffer` stores its ``statistics_methods`` dict, whose values
    (``HistoryBuffer.min`` and so on) pickle as a call to ``builtins.getattr``. Allowlisting the
    real ``getattr`` would let a checkpoint reach any attribute of any allowlisted object, so
    ``builtins.getattr`` is mapped to this function, which resolves only those four methods.

    Args:
        owner: The object ``getattr`` is applied to in the pickle.
        name: The attribute name.

    Returns:
        The statistics method ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'cmae_mm.compat: the weights_only allowlist resolves builtins.getattr only for '
        f'HistoryBuffer.{{{", ".join(HISTORY_BUFFER_STATISTICS)}}}, not getattr({owner!r}, {name!r})')


def runner_checkpoint_safe_globals() -> List[SafeGlobal]:
    """The globals a checkpoint saved by mmengine's Runner needs beyond torch's default allowlist.

    Found by saving real Runner checkpoints (training + validation, message hub included) and
    listing what the ``weights_only`` unpickler rejects
    (``torch.serialization.get_unsafe_globals_in_checkpoint`` for ``GLOBAL`` opcodes, then loading
    for the types it ``BUILD``\\s):

    * ``mmengine.logging.history_buffer.HistoryBuffer`` -- ``message_hub['log_scalars']`` values;
    * ``builtins.getattr`` -- mapped to :func:`_history_buffer_statistic` (restricted);
    * ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype`` -- the float64
      ``_log_history`` and int64 ``_count_history`` arrays of each HistoryBuffer;
    * ``numpy.core.multiarray.scalar`` -- numpy scalars such as ``message_hub['runtime_info']['eta']``;
    * ``numpy.dtypes.Float64DType``, ``numpy.dtypes.Int64DType`` -- the dtype classes the unpickler
      rebuilds (``BUILD``) for those arrays and scalars (numpy >= 1.25 only).

    numpy 2 writes the two ``multiarray`` functions under ``numpy._core.multiarray``; the same
    function objects are registered under that name too, so a checkpoint saved with either numpy
    major loads with either.

    Returns:
        Entries for :func:`torch.serialization.add_safe_globals` (callables, or
        ``(callable, qualified name)`` pairs).
    """
    import numpy as np

    try:
        from numpy._core import multiarray  # numpy 2, and numpy >= 1.26 as an alias
    except ImportError:  # pragma: no cover - numpy < 1.26
        from numpy.core import multiarray

    entries: List[SafeGlobal] = [
        HistoryBuffer,
        (_history_buffer_statistic, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
    ]
    for name in ('_reconstruct', 'scalar'):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((getattr(multiarray, name), f'{module}.{name}'))
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25: one class per dtype
    if dtypes is not None:
        entries += [dtypes.Float64DType, dtypes.Int64DType]
    return entries


def allow_runner_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` (torch's default) read mmengine Runner checkpoints.

    Adds :func:`runner_checkpoint_safe_globals` to torch's allowlist; ``weights_only`` is never
    switched off. Idempotent (the allowlist is a set). No-op on torch < 2.4, which has no
    allowlist (and loads with ``weights_only=False`` by default before 2.6).
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(runner_checkpoint_safe_globals())


# --------------------------------------------------------------------------------------------
# (b) CPU distributed training
# --------------------------------------------------------------------------------------------
class LauncherEnvError(RuntimeError):
    """The environment variables a distributed launcher should have set are missing."""


def _require_env(names: Tuple[str, ...], launcher: str) -> None:
    """Raise :class:`LauncherEnvError` if a launcher's environment variables are missing."""
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise LauncherEnvError(
            f"--launcher {launcher} expects the environment variables {', '.join(missing)}, which "
            f'its launcher sets (use tools/dist_train.sh / tools/dist_test.sh for torchrun, '
            f'tools/slurm_train.sh for slurm); run without --launcher for a single process')


def _slurm_master_addr(node_list: str) -> str:
    """First host name of a slurm node list (as mmengine's slurm launcher does)."""
    out = subprocess.run(['scontrol', 'show', 'hostname', node_list], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[0]


def _export_launcher_env(launcher: str) -> None:
    """Fill RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the launcher's variables.

    ``pytorch`` (torchrun) sets all five itself. ``slurm`` maps ``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID`` and the first host of ``SLURM_NODELIST``; ``mpi`` maps the
    ``OMPI_COMM_WORLD_*`` variables and needs ``MASTER_ADDR``. ``MASTER_PORT`` defaults to 29500
    for both. Variables that are already set are kept.

    Args:
        launcher: ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    env = os.environ
    if launcher == 'pytorch':
        _require_env(('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'), launcher)
    elif launcher == 'slurm':
        _require_env(('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'), launcher)
        env.setdefault('RANK', env['SLURM_PROCID'])
        env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
        env.setdefault('LOCAL_RANK', env['SLURM_LOCALID'])
        env.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in env:
            _require_env(('SLURM_NODELIST',), launcher)
            env['MASTER_ADDR'] = _slurm_master_addr(env['SLURM_NODELIST'])
    elif launcher == 'mpi':
        _require_env(('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK',
                      'MASTER_ADDR'), launcher)
        env.setdefault('RANK', env['OMPI_COMM_WORLD_RANK'])
        env.setdefault('WORLD_SIZE', env['OMPI_COMM_WORLD_SIZE'])
        env.setdefault('LOCAL_RANK', env['OMPI_COMM_WORLD_LOCAL_RANK'])
        env.setdefault('MASTER_PORT', '29500')
    else:
        raise ValueError(f"unknown launcher {launcher!r}: expected 'none', 'pytorch', 'slurm' or 'mpi'")


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a distributed run on CPUs: gloo process group and a CPU DDP wrapper.

    Acts only when ``cfg.launcher`` is not ``'none'`` and no CUDA device is available.
    mmengine's :meth:`Runner.setup_env` initialises the process group only if
    ``mmengine.dist.is_distributed()`` is False, and its launchers call
    ``torch.cuda.set_device``; so the gloo group is initialised here, before the Runner is built,
    from the launcher's environment (see :func:`_export_launcher_env`), with the timeout of
    ``cfg.env_cfg.dist_cfg`` if one is given. ``cfg.env_cfg.dist_cfg.backend`` becomes ``'gloo'``
    (what the Runner logs), and ``cfg.model_wrapper_cfg`` becomes mmengine's
    ``MMDistributedDataParallel`` with ``device_ids=None`` (CPU module) and
    ``broadcast_buffers=False``; other options of an existing ``MMDistributedDataParallel`` wrapper
    config, and a top-level ``find_unused_parameters``, are kept.

    Args:
        cfg: The full config; ``cfg.launcher`` must already be set. Modified in place.

    Returns:
        True if the config was set up for CPU distributed training, False if nothing was done.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    _export_launcher_env(launcher)

    env_cfg = cfg.get('env_cfg') or ConfigDict()
    dist_cfg = env_cfg.get('dist_cfg') or ConfigDict()
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(f"no CUDA device: dist_cfg backend {dist_cfg['backend']!r} -> 'gloo'",
                  logger='current', level=logging.WARNING)
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg

    if not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = timedelta(seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(backend='gloo', init_method='env://',
                                      rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']), **kwargs)

    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict()
    if wrapper.get('type', 'MMDistributedDataParallel') != 'MMDistributedDataParallel':
        print_log(f"no CUDA device: model wrapper {wrapper['type']!r} -> 'MMDistributedDataParallel'",
                  logger='current', level=logging.WARNING)
        wrapper = ConfigDict()
    if 'find_unused_parameters' not in wrapper and cfg.get('find_unused_parameters') is not None:
        wrapper['find_unused_parameters'] = cfg['find_unused_parameters']
    wrapper.update(CPU_MODEL_WRAPPER)
    cfg.model_wrapper_cfg = wrapper
    print_log(f'CPU distributed training ({launcher} launcher): gloo process group, rank '
              f'{torch_dist.get_rank()} of {torch_dist.get_world_size()}; model wrapper {dict(wrapper)}',
              logger='current')
    return True


# --------------------------------------------------------------------------------------------
# (c) SyncBN -> BN, (d) fp32 on CPU
# --------------------------------------------------------------------------------------------
def _replace_syncbn(node: Any, path: str, changed: List[str]) -> None:
    """Recursively rewrite ``type`` of SyncBN dicts to ``'BN'``, recording their paths."""
    if isinstance(node, dict):  # ConfigDict is a dict
        if node.get('type') in SYNCBN_TYPES:
            changed.append(f"{path or '<root>'}: {node['type']} -> BN")
            node['type'] = 'BN'
        for key, value in node.items():
            _replace_syncbn(value, f'{path}.{key}' if path else str(key), changed)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _replace_syncbn(value, f'{path}[{i}]', changed)


def replace_syncbn_on_cpu(cfg: Config) -> List[str]:
    """Rewrite every SyncBN norm config to BN when no CUDA device is available.

    Every dict of the config whose ``type`` is one of :data:`SYNCBN_TYPES` (``norm_cfg`` of
    backbones, necks and heads, at any depth, in lists too) gets ``type='BN'``; other keys
    (``requires_grad``, ``eps``, ...) are kept. A top-level ``sync_bn`` (which makes mmengine
    convert BN layers to SyncBN in distributed runs) is removed. The changes are logged.
    ``'BN'`` is mmcv's ``BatchNorm2d``, right for the 2-d feature maps of detection and
    segmentation models; a SyncBN applied to (N, C) features would need ``'BN1d'``.

    Args:
        cfg: The config, modified in place.

    Returns:
        One ``'<key path>: <old type> -> BN'`` entry per change (empty with CUDA or no SyncBN).
    """
    if torch.cuda.is_available():
        return []
    changed: List[str] = []
    _replace_syncbn(cfg._cfg_dict, '', changed)
    if cfg.get('sync_bn') is not None:
        changed.append(f"sync_bn: {cfg.sync_bn!r} -> removed")
        cfg._cfg_dict.pop('sync_bn')
    if changed:
        print_log('no CUDA device: SyncBN replaced by BN:\n    ' + '\n    '.join(changed),
                  logger='current', level=logging.WARNING)
    return changed


def disable_amp_on_cpu(cfg: Config) -> bool:
    """Train in fp32 when no CUDA device is available.

    mmengine's ``AmpOptimWrapper`` asserts a GPU (or NPU/MLU/MUSA) device, and bf16 autocast on
    CPUs without bf16 instructions is orders of magnitude slower than fp32. An
    ``AmpOptimWrapper`` in ``cfg.optim_wrapper`` becomes ``OptimWrapper`` (its ``loss_scale`` and
    ``dtype`` are dropped), with a warning.

    Args:
        cfg: The config, modified in place.

    Returns:
        True if the optimiser wrapper was changed.
    """
    optim_wrapper: Optional[dict] = cfg.get('optim_wrapper')
    if torch.cuda.is_available() or not optim_wrapper or optim_wrapper.get('type') != 'AmpOptimWrapper':
        return False
    optim_wrapper['type'] = 'OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        optim_wrapper.pop(key, None)
    print_log('no CUDA device: AmpOptimWrapper -> OptimWrapper (fp32); AMP configs are for GPUs',
              logger='current', level=logging.WARNING)
    return True


def apply_cpu_compat(cfg: Config) -> None:
    """Apply every config shim for a machine without CUDA (no-ops with CUDA).

    :func:`replace_syncbn_on_cpu`, :func:`disable_amp_on_cpu` and :func:`setup_cpu_distributed`,
    in that order; call it after ``cfg.launcher`` is set and before the Runner is built.

    Args:
        cfg: The config, modified in place.
    """
    replace_syncbn_on_cpu(cfg)
    disable_amp_on_cpu(cfg)
    setup_cpu_distributed(cfg)


allow_runner_checkpoints()
