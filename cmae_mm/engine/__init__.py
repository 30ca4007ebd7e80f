"""Engine: running mmengine's Runner on any device, checkpoint loading rules, optimizers, hooks.

* :mod:`.runner` -- config loading, scope selection and the one ``run`` of both tools;
* :mod:`.cpu_compat` -- the shims that let GPU configs run on CPUs (no-ops with CUDA);
* :mod:`.compile` -- ``compile`` from a config (the forward; the optimizer step stays eager);
* :mod:`.checkpoint` -- the scoped ``weights_only`` allowlist and strict key checks;
* :mod:`.optimizers` -- layer-wise lr decay for detectors and segmentors;
* :mod:`.hooks` -- training hooks (save-first checkpoints, non-finite loss guard, RNG states, resume
  checks);
* :mod:`.atomic_io` -- atomic file writes, registered as the file backend ``'atomic_local'``;
* :mod:`.errors` -- :class:`~.errors.ConfigError`, wrong user input (one line from the tools).

Importing it registers the suite's hooks and file backend under their own names; it replaces no
mmengine component.
"""
from . import atomic_io, hooks, optimizers  # noqa: F401  (registration)
from .atomic_io import DiskFullError, atomic_write_bytes
from .checkpoint import (CheckpointMismatchError, UnsafeCheckpointError, encoder_state,
                         load_encoder_state, read_checkpoint, read_state_dict, trusted_globals)
from .compile import CMAERunner, compile_model, compile_options
from .cpu_compat import LauncherEnvError, MMCVOpsError, apply_cpu_compat
from .errors import ConfigError
from .runner import (LAUNCHERS, RUN_MODES, SUPPORTED_SCOPES, build_runner, load_config,
                     prepare_config, register_scope, run, set_local_rank)

__all__ = [
    'CMAERunner', 'CheckpointMismatchError', 'ConfigError', 'DiskFullError', 'LAUNCHERS', 'LauncherEnvError',
    'MMCVOpsError', 'RUN_MODES', 'SUPPORTED_SCOPES', 'UnsafeCheckpointError', 'apply_cpu_compat', 'atomic_write_bytes', 'build_runner',
    'compile_model', 'compile_options', 'encoder_state', 'load_config', 'load_encoder_state', 'prepare_config', 'read_checkpoint',
    'read_state_dict', 'register_scope', 'run', 'set_local_rank', 'trusted_globals'
]
