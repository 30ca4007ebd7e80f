"""Checks a resumed checkpoint before mmengine restores it: a changed lr schedule, and stored text.

Two things go wrong silently when mmengine resumes:

* **A changed schedule.** ``Runner.resume`` loads every parameter scheduler's saved state,
  including its ``begin``/``end``/``T_max``: a run resumed with a longer
  ``--cfg-options train_cfg.max_epochs`` and scheduler ends keeps the *old* schedule, so the lr
  ends early and stays at its floor.
* **Stored config text is executed.** ``Runner.resume`` runs ``Config.fromstring`` on the
  checkpoint's ``meta.config`` (to compare GPU counts), which executes Python text from the file.
"""
import copy
import logging
from typing import Any, Dict, List, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..errors import ConfigError

__all__ = ['RESUME_SCHEDULE_MODES', 'ResumeCheckHook', 'ScheduleMismatchError']

#: Values of the config key ``resume_schedule`` (``tools/train.py --resume-schedule``).
RESUME_SCHEDULE_MODES = ('checkpoint', 'config')
#: Scheduler fields that define its extent; compared between the config and the checkpoint.
SCHEDULE_FIELDS = ('begin', 'end', 'T_max')


class ScheduleMismatchError(ConfigError):
    """The config's lr schedule differs from the one saved in the checkpoint being resumed."""


def schedule_differences(current: List[Any], saved: List[Dict[str, Any]]
                         ) -> List[Tuple[int, str, str, Any, Any]]:
    """Fields of :data:`SCHEDULE_FIELDS` that differ between built schedulers and saved states.

    Args:
        current: The Runner's built parameter schedulers (config order).
        saved: The checkpoint's ``param_schedulers`` state dicts (same order).

    Returns:
        List of ``(index, scheduler type, field, config value, checkpoint value)``.
    """
    diffs = []
    if len(current) != len(saved):
        diffs.append((-1, 'param_scheduler', 'count', len(current), len(saved)))
    for i, (scheduler, state) in enumerate(zip(current, saved)):
        for name in SCHEDULE_FIELDS:
            if hasattr(scheduler, name) and name in state \
                    and getattr(scheduler, name) != state[name]:
                diffs.append((i, type(scheduler).__name__, name, getattr(scheduler, name),
                              state[name]))
    return diffs


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """On resume, compare the config's lr schedule with the checkpoint's, and drop stored text.

    Runs in ``after_load_checkpoint``, which mmengine calls before it reads the checkpoint's
    meta data and restores the optimizer and schedulers.

    * The checkpoint's ``meta.config`` text is removed, so ``Runner.resume`` never executes it
      (its only use there is a GPU-count comparison, which is skipped; use ``auto_scale_lr``).
    * When resuming (not for ``load_from`` initialisation), every scheduler's ``begin``, ``end``
      and ``T_max`` (iterations for iteration-converted schedulers) in the config are compared
      with the checkpoint's. By default (config ``resume_schedule='checkpoint'``) a difference
      stops the run with one line that names both values and the two ways forward. With
      ``resume_schedule='config'`` (``tools/train.py --resume-schedule config``) the saved
      scheduler states are not loaded; before training continues, the config's schedulers are
      rebuilt from the base lrs and stepped to the resumed iteration (epoch), so the lr is
      exactly what a run started with the config's schedule would have there (mmengine's
      schedulers compute each value from the previous one, so patching the saved ``end`` alone
      would continue from an lr that already decayed).
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._replay = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Drop the stored config text; check (or adapt) the saved schedule when resuming."""
        meta = checkpoint.get('meta')
        if isinstance(meta, dict) and 'config' in meta:
            meta.pop('config')
        if not getattr(runner, '_resume', False) or 'param_schedulers' not in checkpoint:
            return
        mode = runner.cfg.get('resume_schedule', 'checkpoint')
        if mode not in RESUME_SCHEDULE_MODES:
            raise ConfigError(f'resume_schedule={mode!r}; allowed: '
                              f'{", ".join(RESUME_SCHEDULE_MODES)}')
        current, saved = runner.param_schedulers, checkpoint['param_schedulers']
        if isinstance(current, dict) or isinstance(saved, dict):
            return  # per-optimizer schedulers: not compared
        if not current or not all(hasattr(s, 'last_step') for s in current):
            return  # not built (the Runner builds them before resuming in train())
        diffs = schedule_differences(current, saved)
        if not diffs:
            return
        shown = '; '.join(f'param_scheduler[{i}] {kind}.{name}: config {new}, checkpoint {old}'
                          for i, kind, name, new, old in diffs)
        if mode == 'checkpoint' or any(name == 'count' for _, _, name, _, _ in diffs):
            raise ScheduleMismatchError(
                f'the config\'s lr schedule differs from the checkpoint\'s ({shown}); either '
                f'resume with the schedule the run started with (undo the change), or continue '
                f'with the config\'s schedule: tools/train.py ... --resume --resume-schedule config')
        checkpoint.pop('param_schedulers')  # rebuilt and replayed in before_train
        self._replay = True
        print_log(f'ResumeCheckHook: continuing with the config\'s schedule ({shown})',
                  logger='current', level=logging.WARNING)

    def before_train(self, runner) -> None:
        """After a ``resume_schedule='config'`` resume: the config's schedule at the resumed step."""
        if not self._replay:
            return
        self._replay = False
        optimizer = runner.optim_wrapper.optimizer
        for group in optimizer.param_groups:
            group['lr'] = group['initial_lr']
            group.pop('initial_lr')  # set again by the new schedulers
        runner.param_schedulers = runner.build_param_scheduler(
            copy.deepcopy(runner.cfg.param_scheduler))
        schedulers = runner.param_schedulers
        counts = [runner.epoch if s.by_epoch else runner.iter for s in schedulers]
        for i in range(max(counts, default=0)):  # in the order a run steps them
            for scheduler, count in zip(schedulers, counts):
                if i < count:
                    scheduler.step()
        lrs = sorted({round(g['lr'], 12) for g in optimizer.param_groups})
        print_log(f'ResumeCheckHook: lr schedule replayed to iteration {runner.iter} '
                  f'(epoch {runner.epoch}); lr now {lrs[-1]:.6g}', logger='current')
