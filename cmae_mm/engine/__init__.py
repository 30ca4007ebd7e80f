"""Engine: running mmengine's Runner on any device, checkpoint loading rules, optimizers, hooks.

* :mod:`.runner` -- config loading, scope selection and the one ``run`` of both tools;
* :mod:`.cpu_compat` -- the shims that let GPU configs run on CPUs (no-ops with CUDA);
* :mod:`.checkpoint` -- the scoped ``weights_only`` allowlist and strict key checks;
* :mod:`.optimizers` -- layer-wise lr decay for detectors and segmentors;
* :mod:`.hooks` -- training hooks (non-finite loss guard, RNG states, resume checks);
* :mod:`.atomic_io` -- atomic file writes, registered as mmengine's local file backend.
"""
from . import atomic_io, hooks, optimizers  # noqa: F401  (registration)
from .atomic_io import DiskFullError, atomic_write_bytes
from .checkpoint import (CheckpointMismatchError, UnsafeCheckpointError, encoder_state,
                         load_encoder_state, read_checkpoint, read_state_dict, trusted_globals)
from .cpu_compat import LauncherEnvError, MMCVOpsError, apply_cpu_compat
from .runner import (LAUNCHERS, RUN_MODES, SUPPORTED_SCOPES, build_runner, load_config,
                     prepare_config, register_scope, run, set_local_rank)

__all__ = [
    'CheckpointMismatchError', 'DiskFullError', 'LAUNCHERS', 'LauncherEnvError', 'MMCVOpsError', 'RUN_MODES',
    'SUPPORTED_SCOPES', 'UnsafeCheckpointError', 'apply_cpu_compat', 'atomic_write_bytes', 'build_runner',
    'encoder_state', 'load_config', 'load_encoder_state', 'prepare_config', 'read_checkpoint',
    'read_state_dict', 'register_scope', 'run', 'set_local_rank', 'trusted_globals'
]
