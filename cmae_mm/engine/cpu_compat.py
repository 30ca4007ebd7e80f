"""CPU shims: run the OpenMMLab 2.x configs (written for GPUs) on a machine without CUDA.

Every shim acts on a config, is applied by :func:`cmae_mm.engine.prepare_config` (so by
``tools/train.py`` and ``tools/test.py``) before the :class:`~mmengine.runner.Runner` is built,
and is a **no-op when CUDA is available**:

* :func:`setup_cpu_distributed` -- mmengine 0.10.7's launchers call ``torch.cuda.set_device`` and
  its DDP wrapper passes ``device_ids=[local_rank]``; both fail without a GPU. The gloo process
  group is initialised here instead, and the wrapper is configured for CPU.
* :func:`replace_syncbn_on_cpu` -- SyncBN layers (torch, mmcv 2.1.0) raise on CPU inputs once a
  process group exists: rewrite them to BN.
* :func:`disable_amp_on_cpu` -- mmengine 0.10.7's ``AmpOptimWrapper`` asserts a GPU, and bf16
  autocast is far slower than fp32 on CPUs without bf16 instructions: train in fp32.
* :func:`check_mmcv_ops` -- with CUDA, a detection config needs mmcv's CUDA ops; an mmcv built
  without them (``CMAE_MMCV_CUDA=0``) fails at start-up with the rebuild hint, not mid-iteration.
"""
import logging
import os
import subprocess
from datetime import timedelta
from typing import Any, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

__all__ = [
    'LauncherEnvError',
    'MMCVOpsError',
    'SYNCBN_TYPES',
    'apply_cpu_compat',
    'check_mmcv_ops',
    'disable_amp_on_cpu',
    'replace_syncbn_on_cpu',
    'setup_cpu_distributed',
]

# Norm layer types that need GPUs: torch's SyncBatchNorm ('SyncBN') and mmcv's ('MMSyncBN').
SYNCBN_TYPES = ('SyncBN', 'MMSyncBN')

CPU_MODEL_WRAPPER = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)


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


class MMCVOpsError(RuntimeError):
    """mmcv was built without the compiled ops a config needs on this device."""


def check_mmcv_ops(cfg: Config) -> None:
    """Fail at start-up when a GPU run of a detection config has an mmcv without CUDA ops.

    mmdet's RoIAlign and nms run through ``mmcv._ext``; an mmcv compiled for CPU only (the set-up
    script's default, ``CMAE_MMCV_CUDA=0``) imports fine and only fails at the first RoI op, after
    the data loaders and the model were built. No-op without CUDA (the CPU kernels are used) and for
    scopes other than mmdet (UperNet uses no mmcv op at run time).

    Args:
        cfg: The config.

    Raises:
        MMCVOpsError: With the rebuild command, if CUDA is available, ``default_scope`` is
            ``'mmdet'`` and mmcv reports no compiling CUDA version.
    """
    if not torch.cuda.is_available() or cfg.get('default_scope') != 'mmdet':
        return
    from mmcv.ops import get_compiling_cuda_version

    if get_compiling_cuda_version() == 'not available':
        raise MMCVOpsError(
            'this mmcv was compiled without CUDA ops, which the mmdet config needs on a GPU (RoIAlign, '
            'nms); rebuild it with CUDA: `make clean-env && CMAE_MMCV_CUDA=1 make env` (needs nvcc)')


def apply_cpu_compat(cfg: Config) -> None:
    """Apply every device shim (no-ops with CUDA, except the mmcv ops check, which is GPU-only).

    :func:`replace_syncbn_on_cpu`, :func:`disable_amp_on_cpu`, :func:`setup_cpu_distributed` and
    :func:`check_mmcv_ops`, in that order; call it after ``cfg.launcher`` is set and before the
    Runner is built.

    Args:
        cfg: The config, modified in place.
    """
    check_mmcv_ops(cfg)
    replace_syncbn_on_cpu(cfg)
    disable_amp_on_cpu(cfg)
    setup_cpu_distributed(cfg)

