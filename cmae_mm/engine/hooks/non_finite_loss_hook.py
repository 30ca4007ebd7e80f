"""Stop (or, if asked, skip the step) when the training loss is NaN or infinite."""
import logging
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..errors import ConfigError

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook']


class NonFiniteLossError(FloatingPointError):
    """The optimised loss was NaN or infinite; the step was not applied."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the optimised loss **before** the optimizer step, on every iteration.

    mmengine trains on through a NaN loss: the step writes NaN into every weight and the next
    checkpoint saves them. This hook wraps the optimizer wrapper's ``update_params`` so that a
    non-finite loss never reaches ``backward``/``step``:

    * ``skip=False`` (default): raise :class:`NonFiniteLossError` naming the iteration and epoch,
      the last checkpoint in the work dir (which holds the last good weights: no checkpoint is
      written after the failure) and the command that resumes from it;
    * ``skip=True``: drop the step (gradients zeroed, no update), log a warning with the running
      count, and go on; at most ``max_skips`` in a row, then raise as above.

    In a distributed run the ranks agree (one all-reduce of a flag per iteration), so either all
    ranks skip or all raise; none is left waiting in a collective.

    Args:
        skip (bool): Skip non-finite steps instead of stopping. Defaults to False.
        max_skips (int): Consecutive skipped steps after which the run stops anyway.
            Defaults to 10.
    """

    priority = 'VERY_HIGH'

    def __init__(self, skip: bool = False, max_skips: int = 10) -> None:
        if not isinstance(max_skips, int) or max_skips < 1:
            raise ConfigError(f'NonFiniteLossHook max_skips={max_skips!r}: must be an int >= 1')
        self.skip = bool(skip)
        self.max_skips = max_skips
        self.skipped = 0
        self._in_a_row = 0

    def before_train(self, runner) -> None:
        """Wrap ``runner.optim_wrapper.update_params`` with the check."""
        wrapper = runner.optim_wrapper
        update_params = wrapper.update_params
        if getattr(update_params, '_non_finite_checked', False):
            return

        def checked_update_params(loss: torch.Tensor, *args, **kwargs) -> None:
            if self._all_finite(loss):
                self._in_a_row = 0
                return update_params(loss, *args, **kwargs)
            self._handle(runner, loss)
            wrapper.zero_grad()

        checked_update_params._non_finite_checked = True  # type: ignore[attr-defined]
        wrapper.update_params = checked_update_params

    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        finite = torch.isfinite(loss.detach()).all().to(torch.int32)
        if is_distributed():
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite)

    def _handle(self, runner, loss: torch.Tensor) -> None:
        it, epoch = runner.iter + 1, runner.epoch + 1
        where = f'iteration {it} (epoch {epoch})'
        if self.skip and self._in_a_row < self.max_skips:
            self.skipped += 1
            self._in_a_row += 1
            print_log(f'NonFiniteLossHook: loss is {loss.detach().float().mean().item()} at {where}; '
                      f'step skipped (skip=True; {self.skipped} skipped so far, {self._in_a_row} in '
                      'a row)', logger='current', level=logging.WARNING)
            return
        raise NonFiniteLossError(self._message(runner, loss, where))

    def _message(self, runner, loss: torch.Tensor, where: str) -> str:
        last = _last_checkpoint(runner.work_dir)
        resume = (f'the last good checkpoint is {last} (no checkpoint was written after this '
                  f'failure); resume from it with `tools/train.py CONFIG --work-dir '
                  f'{runner.work_dir} --resume`' if last else
                  'no checkpoint was written yet; restart the run')
        stopped = (f' after {self._in_a_row} skipped steps in a row (max_skips={self.max_skips})'
                   if self.skip else '')
        return (f'the training loss is {loss.detach().float().mean().item()} at {where}; the run '
                f'stopped before the optimizer step{stopped}. {resume}, e.g. with a lower learning '
                'rate or gradient clipping (optim_wrapper.clip_grad), or skip such steps with '
                "--cfg-options custom_hooks='[dict(type=\"NonFiniteLossHook\",skip=True)]'")


def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine's ``last_checkpoint`` file names in ``work_dir``, if any."""
    from pathlib import Path

    marker = Path(work_dir) / 'last_checkpoint'
    return marker.read_text().strip() if marker.is_file() else None
