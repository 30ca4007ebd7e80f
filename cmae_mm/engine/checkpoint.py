"""Checkpoint loading rules: torch's ``weights_only`` allowlist, scoped, and strict key checks.

Checkpoints are untrusted input. Every load of the suite goes through ``torch.load`` with
``weights_only=True`` (torch's default since 2.6), so a pickle can only rebuild tensors and the
few plain types on torch's allowlist, never call a function. A Runner checkpoint also holds the
message hub's ``HistoryBuffer`` objects and numpy arrays; :func:`trusted_globals` allows exactly
those, **only inside its ``with`` block** (``torch.serialization.safe_globals``), so importing
:mod:`cmae_mm` changes nothing process-wide. :func:`cmae_mm.engine.run` wraps the Runner in it
(``--resume``, ``load_from``), and :func:`read_checkpoint` every other load (``TransferViT``, the
analysis tools, the converters). Nothing of a checkpoint's text (e.g. the config stored in
``meta['cfg']``) is ever executed or evaluated.

mmengine's ``Pretrained`` initialiser loads weights non-strictly and only logs mismatches;
:func:`load_encoder_state` reports missing and unexpected keys and raises on any that are not
expected by design.
"""
import contextlib
import fnmatch
import pickle
from typing import Any, Callable, Dict, Iterable, Iterator, List, Sequence, Tuple, Union

import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import CheckpointLoader
from torch import nn

__all__ = ['CheckpointMismatchError', 'UnsafeCheckpointError', 'encoder_state',
           'load_encoder_state', 'read_checkpoint', 'read_state_dict',
           'runner_checkpoint_safe_globals', 'trusted_globals']

StateDict = Dict[str, torch.Tensor]
SafeGlobal = Union[Callable, Tuple[Callable, str]]

# The statistics every HistoryBuffer registers (mmengine pickles them as getattr(HistoryBuffer, name)).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the ``weights_only`` allowlist (it could run code)."""


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
        f'cmae_mm.engine.checkpoint: the weights_only allowlist resolves builtins.getattr only for '
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


_trusted_depth = 0  # how many trusted_globals blocks are open (they nest: see below)


@contextlib.contextmanager
def trusted_globals() -> Iterator[None]:
    """Allow :func:`runner_checkpoint_safe_globals` for ``weights_only`` loads in this block only.

    ``weights_only`` is never switched off. Blocks nest: only the outermost one adds and removes
    the globals. (torch's ``safe_globals`` removes its entries on exit even when an enclosing block
    had added them, so a nested block -- a backbone loading its ``init_cfg`` checkpoint inside
    :func:`cmae_mm.engine.run` -- would otherwise leave the rest of the outer block, such as the
    Runner's resume, without them.) On torch < 2.5 (no scoped allowlist) the globals are added
    process-wide, the closest equivalent.
    """
    global _trusted_depth
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is None:  # pragma: no cover - torch < 2.5
        torch.serialization.add_safe_globals(runner_checkpoint_safe_globals())
        yield
        return
    outer = contextlib.nullcontext() if _trusted_depth else safe_globals(
        runner_checkpoint_safe_globals())
    with outer:
        _trusted_depth += 1
        try:
            yield
        finally:
            _trusted_depth -= 1


def unsafe_checkpoint_message(source: str, error: BaseException) -> str:
    """The message for a checkpoint that the ``weights_only`` unpickler refused."""
    first = str(error).strip().splitlines()
    detail = next((line for line in first if 'Unsupported global' in line or 'GLOBAL' in line),
                  first[0] if first else type(error).__name__)
    return (f'refused to load {source}: it holds Python objects outside the weights_only allowlist '
            f'({detail.strip()}); loading it could run code, so nothing of it was used. Only '
            'tensors, plain containers and the objects of mmengine Runner checkpoints are loaded')


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys do not fit a module (beyond the differences expected by design)."""


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint on CPU: a dict holding ``state_dict`` (and ``meta`` if it has one).

    Args:
        path: A Runner checkpoint (``{'state_dict': ..., 'meta': ...}``) or a plain state dict;
            a local path or any URI mmengine's ``CheckpointLoader`` reads (``https://``, ...).

    Returns:
        ``{'state_dict': name -> tensor, 'meta': dict}`` (``meta`` empty for a plain state dict).

    Raises:
        UnsafeCheckpointError: If the file holds objects the ``weights_only`` unpickler refuses
            (e.g. a pickled callable); nothing is executed.
        CheckpointMismatchError: If it holds no dict.
    """
    try:
        with trusted_globals():
            ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(unsafe_checkpoint_message(path, e)) from e
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(f'{path} holds a {type(ckpt).__name__}, not a state dict')
    if isinstance(ckpt.get('state_dict'), dict):
        return dict(state_dict=ckpt['state_dict'], meta=ckpt.get('meta') or {})
    return dict(state_dict=ckpt, meta={})


def read_state_dict(path: str) -> StateDict:
    """The state dict of a checkpoint (see :func:`read_checkpoint`), loaded on CPU."""
    return read_checkpoint(path)['state_dict']


def encoder_state(state: StateDict, prefix: str = 'backbone.', source: str = 'checkpoint'
                  ) -> StateDict:
    """The entries of ``state`` under ``prefix``, with the prefix removed.

    Args:
        state: A state dict.
        prefix: Key prefix of the encoder (``'backbone.'`` in a pre-training checkpoint; ``''``
            for a backbone-only checkpoint written by ``tools/model_converters``).
        source: Name of the checkpoint, for the error message.

    Returns:
        The encoder's state dict.

    Raises:
        CheckpointMismatchError: If no key starts with ``prefix``; the message lists the key
            groups the checkpoint does have.
    """
    if not prefix:
        return dict(state)
    selected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not selected:
        groups = sorted({k.split('.')[0] for k in state})
        raise CheckpointMismatchError(
            f'{source} has no keys with prefix {prefix!r}; its keys start with {groups}. '
            "A backbone-only checkpoint (tools/model_converters) needs prefix ''.")
    return selected


def _unexplained(keys: Iterable[str], patterns: Sequence[str]) -> List[str]:
    return sorted(k for k in keys if not any(fnmatch.fnmatchcase(k, p) for p in patterns))


def load_encoder_state(module: nn.Module, state: StateDict, allowed_missing: Sequence[str] = (),
                       allowed_unexpected: Sequence[str] = (), source: str = 'checkpoint'
                       ) -> Tuple[List[str], List[str]]:
    """Load ``state`` into ``module``, failing on any key difference not allowed explicitly.

    The module's own ``load_state_dict`` pre-hooks run (e.g. mmpretrain's ViT resizes a
    checkpoint's position embeddings to its grid).

    Args:
        module: The module to load into.
        state: Its state dict (no prefix).
        allowed_missing: Glob patterns of module keys allowed to be absent from ``state`` (new
            layers by design, e.g. ``'ln2.*'`` of a pooled classification head's norm).
        allowed_unexpected: Glob patterns of ``state`` keys allowed to be unused (e.g. ``'ln1.*'``,
            the pre-training final norm, when the downstream encoder has none).
        source: Name of the checkpoint, for messages.

    Returns:
        The missing and the unexpected keys (all of them allowed).

    Raises:
        CheckpointMismatchError: Naming every missing and unexpected key that is not allowed.
            Nothing is loaded in that case.
    """
    own = set(module.state_dict())
    missing = sorted(own - set(state))
    unexpected = sorted(set(state) - own)
    bad_missing = _unexplained(missing, allowed_missing)
    bad_unexpected = _unexplained(unexpected, allowed_unexpected)
    if bad_missing or bad_unexpected:
        raise CheckpointMismatchError(
            f'{source} does not fit {type(module).__name__}: missing keys {bad_missing}, '
            f'unexpected keys {bad_unexpected} (allowed by design: missing '
            f'{list(allowed_missing)}, unexpected {list(allowed_unexpected)})')
    result = module.load_state_dict(state, strict=False)
    return sorted(result.missing_keys), sorted(result.unexpected_keys)
