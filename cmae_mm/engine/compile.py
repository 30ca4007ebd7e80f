"""``torch.compile`` from a config: the model's forward is compiled, the optimizer step stays eager.

A config enables it with ``compile=dict(target='forward', **torch_compile_kwargs)`` (or
``compile=True``, the same with torch's defaults), and ``tools/train.py --compile`` does the same
without editing the config. The keyword arguments go to :func:`torch.compile` (``backend``,
``mode``, ``dynamic``, ``fullgraph``, ``options``, ...). Targets:

* ``'forward'`` (default): ``model.forward = torch.compile(model.forward)``, the pattern of
  mmengine's ``FlexibleRunner`` strategies. The data preprocessor, ``parse_losses``, the
  optimizer wrapper's step (AMP scaling, clipping, AdamW) and the hooks stay eager; the backward
  runs AOTAutograd's compiled backward of the forward graph.
* ``'model'``: :meth:`torch.nn.Module.compile` of the model (its ``__call__``, hooks included).

Both compile the model in place (never ``torch.compile(model)``, whose ``OptimizedModule`` would
prefix every state-dict key with ``_orig_mod.``), so checkpoints of a compiled run load into an
uncompiled model, and resuming works as without compilation (the checkpoint is loaded before the
model is compiled). With DDP the wrapped module's forward is compiled, inside the DDP wrapper.

mmengine's own ``compile`` option compiles ``model.train_step``, optimizer step included; with
torch 2.14 dynamo fails while tracing ``AdamW.step`` over mmengine's parameter groups. The suite's
runner (:class:`CMAERunner`, what ``tools/train.py`` builds) therefore reads ``compile=True`` as
``compile=dict(target='forward')``, and rejects ``target='train_step'`` with one line naming the
working key.
"""
import inspect
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .errors import ConfigError

__all__ = ['COMPILE_TARGETS', 'WORKING_KEY', 'CMAERunner', 'compile_model', 'compile_options']

#: What ``compile.target`` may name.
COMPILE_TARGETS = ('forward', 'model')
#: The config key that compiles the forward and keeps the optimizer step eager.
WORKING_KEY = "compile=dict(target='forward')"


def compile_options(value: Any) -> Optional[Dict[str, Any]]:
    """Read a config's ``compile`` value.

    Args:
        value: ``cfg.get('compile')``: None or False (no compilation), True (compile the forward
            with torch's defaults) or a dict with an optional ``target`` (default ``'forward'``)
            and :func:`torch.compile` keyword arguments.

    Returns:
        None when nothing is compiled, else a new dict with ``target`` and the keyword arguments.

    Raises:
        ConfigError: In one line naming the working key, for a value that is neither a bool nor a
            dict, a target other than :data:`COMPILE_TARGETS` (e.g. mmengine's ``'train_step'``,
            which would compile the optimizer step) or a keyword :func:`torch.compile` does not
            take.
    """
    if value is None or value is False:
        return None
    if value is True:
        return dict(target='forward')
    if not isinstance(value, dict):
        raise ConfigError(f'compile={value!r} must be True, False or a dict such as {WORKING_KEY}')
    options = dict(value)
    target = options.setdefault('target', 'forward')
    if target not in COMPILE_TARGETS:
        raise ConfigError(
            f'compile target {target!r} is not supported: set {WORKING_KEY} (or pass --compile), '
            f'which compiles the model\'s forward and keeps the optimizer step eager (targets: '
            f'{", ".join(COMPILE_TARGETS)})')
    accepted = set(inspect.signature(torch.compile).parameters) - {'model'}
    unknown = sorted(set(options) - accepted - {'target'})
    if unknown:
        raise ConfigError(f'compile has keys torch.compile does not take: {", ".join(unknown)} '
                         f'(it takes target and {", ".join(sorted(accepted))}), e.g. '
                         f"{WORKING_KEY[:-1]}, backend='inductor')")
    return options


def compile_model(model: nn.Module, options: Dict[str, Any]) -> nn.Module:
    """Compile a (possibly DDP-wrapped) model in place, as ``options`` say.

    Args:
        model: The model, or an mmengine model wrapper around it (its ``module`` is compiled).
        options: :func:`compile_options` output (``target`` and :func:`torch.compile` keywords).

    Returns:
        The compiled module (the unwrapped model; its state dict keys are unchanged).
    """
    module = model.module if is_model_wrapper(model) else model
    kwargs = dict(options)
    target = kwargs.pop('target', 'forward')
    if target == 'forward':
        module.forward = torch.compile(module.forward, **kwargs)
    elif target == 'model':
        module.compile(**kwargs)
    else:  # compile_options rejects it first
        raise ConfigError(f'compile target {target!r} is not supported: set {WORKING_KEY}')
    return module


@RUNNERS.register_module()
class CMAERunner(Runner):
    """mmengine's :class:`~mmengine.runner.Runner` whose ``compile`` option works.

    The only difference is where ``cfg.compile`` applies (see the module docstring): the model's
    forward (or the model, ``target='model'``) instead of ``train_step``, so the optimizer step
    stays eager; ``compile=True`` means ``compile=dict(target='forward')``. As in mmengine it is
    applied in :meth:`train`, after the model is wrapped and the checkpoint loaded.
    """

    def _maybe_compile(self, target: str) -> None:
        """Compile the model as ``cfg.compile`` says (mmengine passes ``'train_step'``, unused).

        Args:
            target: The method mmengine's Runner would compile; ignored.

        Raises:
            ConfigError: For an unsupported ``compile`` value (:func:`compile_options`).
        """
        options = compile_options(self.cfg.get('compile', None))
        if options is None:
            return
        compile_model(self.model, options)
        self.logger.info(f'Compiled the model ({options}); the optimizer step stays eager. The '
                         f'first iterations compile and are slow.')
