"""Save the random number generators' states in checkpoints and restore them on resume."""
import logging
import random
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from mmengine.dist import get_rank, get_world_size, is_distributed
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

__all__ = ['RNGStateHook', 'get_rng_state', 'set_rng_state']

CHECKPOINT_KEY = 'rng_state'


def get_rng_state() -> Dict:
    """The states of Python's, numpy's and torch's global generators (and CUDA's, if present).

    Everything is stored as tensors, ints, floats and strings, so a checkpoint that holds it still
    loads with ``weights_only=True`` and no extra allowlist entry.

    Returns:
        ``python`` (tuple of ints), ``numpy`` (dict with the MT19937 key as an int64 tensor),
        ``torch`` (uint8 tensor) and ``cuda`` (list of uint8 tensors, empty without CUDA).
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return dict(
        python=random.getstate(),
        numpy=dict(kind=str(kind), keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), gauss=float(gauss)),
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def set_rng_state(state: Dict) -> None:
    """Restore the generators from :func:`get_rng_state`'s output."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    n = state['numpy']
    np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32), n['pos'], n['has_gauss'],
                         n['gauss']))
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue the random streams exactly where the checkpoint left them.

    mmengine 0.10.7 restores the model, optimizer, schedulers, message hub and the sampler's epoch,
    but not the global generators: a resumed run re-seeds them, so every random mask (each shot's
    ``torch.rand``), crop and flip after the resume point differs from the uninterrupted run.
    This hook stores every rank's generator states in the checkpoint (``checkpoint['rng_state']``,
    a list indexed by rank) when it is saved and restores them when a checkpoint is resumed, so
    the per-iteration losses after the resume point equal those of a run that was never stopped.

    A checkpoint from another world size cannot be matched rank by rank: then the states are not
    restored and a warning says so (the run continues, re-seeded as before).

    In a distributed run the states are gathered from every rank by all ranks together, *before*
    the checkpoint hook saves: mmengine saves on rank 0 only, so a collective inside
    ``before_save_checkpoint`` would wait forever for the other ranks. They are gathered only
    after the training epochs or iterations at which a checkpoint hook (mmengine's
    ``CheckpointHook`` or a subclass) saves, by that hook's own ``interval``/``save_begin``/
    ``save_last`` rule, and before a validation whose ``save_best`` may save: an
    iteration-based run of 160k iterations gathers at its checkpoints, not at every iteration.
    """

    priority = 'VERY_HIGH'  # gather before CheckpointHook (VERY_LOW) saves in after_train_*

    def __init__(self) -> None:
        self._pending = None
        self._gathered: Optional[List] = None
        self._gathered_at: Optional[int] = None  # runner.iter of the last gather

    def _gather(self, runner) -> None:
        state = get_rng_state()
        if is_distributed():
            states: List = [None] * get_world_size()
            dist.all_gather_object(states, state)
        else:
            states = [state]
        self._gathered = states
        self._gathered_at = runner.iter

    @staticmethod
    def _checkpoint_hooks(runner) -> List[CheckpointHook]:
        """The runner's checkpoint hooks (mmengine's ``CheckpointHook`` and its subclasses)."""
        return [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]

    def _saves_now(self, runner, by_epoch: bool) -> bool:
        """Whether a checkpoint hook saves after this training epoch (``by_epoch``) or iteration.

        The rule of mmengine's ``CheckpointHook.after_train_epoch``/``after_train_iter``, asked
        with the hook's own settings and ``Hook``'s schedule helpers.
        """
        for hook in self._checkpoint_hooks(runner):
            if hook.by_epoch != by_epoch:
                continue
            if by_epoch:
                due = hook.every_n_epochs(runner, hook.interval, hook.save_begin) or (
                    hook.save_last and hook.is_last_train_epoch(runner))
            else:
                due = hook.every_n_train_iters(runner, hook.interval, hook.save_begin) or (
                    hook.save_last and hook.is_last_train_iter(runner))
            if due:
                return True
        return False

    def after_train_epoch(self, runner) -> None:
        """Gather every rank's states (all ranks take part) if the epoch ends with a checkpoint."""
        if self._saves_now(runner, by_epoch=True):
            self._gather(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Gather every rank's states if a checkpoint is saved after this iteration."""
        if self._saves_now(runner, by_epoch=False):
            self._gather(runner)

    def before_val(self, runner) -> None:
        """Gather the states of the last training step before a validation that may save the best
        checkpoint (``save_best``), unless they were gathered at that step already."""
        if self._gathered_at != runner.iter and any(
                hook.save_best for hook in self._checkpoint_hooks(runner)):
            self._gather(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add every rank's generator states (gathered just before) to ``checkpoint``."""
        checkpoint[CHECKPOINT_KEY] = self._gathered if self._gathered is not None \
            else [get_rng_state()]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep this rank's generator states of a resumed checkpoint (not for ``load_from``).

        They are applied in :meth:`before_train`, after the Runner has finished resuming (it may
        re-seed when the checkpoint's seed differs from the config's).
        """
        states = checkpoint.get(CHECKPOINT_KEY)
        if not runner._resume or states is None:  # load_from without --resume: fresh streams
            return
        if len(states) != get_world_size():
            print_log(f'RNGStateHook: the checkpoint holds the generator states of {len(states)} '
                      f'process(es), this run has {get_world_size()}: not restored, the random '
                      'streams after the resume point differ from an uninterrupted run',
                      logger='current', level=logging.WARNING)
            return
        self._pending = states[get_rank()]

    def before_train(self, runner) -> None:
        """Apply the states kept by :meth:`after_load_checkpoint`, right before training resumes."""
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None
