"""Parameter schedules that count optimizer steps under gradient accumulation (``--keep-batch``)."""
import copy
from typing import List, Optional

from mmengine.hooks import ParamSchedulerHook
from mmengine.registry import HOOKS

from ..errors import ConfigError

__all__ = ['OptimStepParamSchedulerHook']


@HOOKS.register_module()
class OptimStepParamSchedulerHook(ParamSchedulerHook):
    """mmengine's ``ParamSchedulerHook`` whose iteration schedules count optimizer steps.

    With ``optim_wrapper.accumulative_counts = A`` the optimizer steps on every ``A``-th
    iteration only. mmengine's hook steps every iteration-based scheduler after every iteration,
    and the Runner converts ``convert_to_iter_based`` schedulers with ``epoch_length`` = the
    iterations per epoch (``A`` x the recipe's). Both count micro-batches. This hook instead
    (see :mod:`cmae_mm.engine.keep_batch`):

    * in ``before_run`` (after the Runner built the schedulers, before a checkpoint is resumed)
      rebuilds the config's schedulers with mmengine's ``Runner.build_param_scheduler``, giving the
      ``convert_to_iter_based`` ones ``epoch_length = len(train_dataloader) / A``: the optimizer
      steps per epoch, the recipe's iterations per epoch;
    * steps every iteration-based scheduler once per optimizer step: after the iterations whose
      ``update_params`` stepped the optimizer (its public ``inner_count`` changed and
      ``should_update()``), not after the others. Schedulers written in iterations
      (``by_epoch=False``, e.g. a 500-iteration warm-up) thus count optimizer steps as in the
      recipe, and optimizer step ``k`` uses every schedule's value at the recipe's step ``k``;
    * steps epoch schedulers after each epoch, as mmengine's hook.

    With ``A = 1`` it behaves as mmengine's hook (every iteration is an optimizer step, nothing is
    rebuilt).

    Args:
        effective_batch (dict, optional): ``per_gpu``, ``processes``, ``accumulation``, ``total``
            as computed from the launcher's environment before the Runner was built
            (:func:`~cmae_mm.engine.keep_batch.apply_keep_batch`); checked against the Runner and
            logged in ``before_run``. Without it the accumulation is 1.
    """

    def __init__(self, effective_batch: Optional[dict] = None) -> None:
        self.effective_batch = dict(effective_batch) if effective_batch else None
        self.accumulation = int(self.effective_batch['accumulation']) if effective_batch else 1
        self._count_before = 0

    @staticmethod
    def _schedulers(runner) -> List:
        schedulers = runner.param_schedulers
        if schedulers is None:
            return []
        if not isinstance(schedulers, list):
            raise ConfigError('OptimStepParamSchedulerHook supports one optimizer (a list of '
                              f'schedulers), got {type(schedulers).__name__}')
        return schedulers

    def before_run(self, runner) -> None:
        """Check and log the effective batch; rebuild the schedulers in optimizer steps."""
        if self.effective_batch is not None:
            from ..keep_batch import effective_batch_line

            expected = self.effective_batch
            actual = dict(per_gpu=runner.train_dataloader.batch_size, processes=runner.world_size)
            for key, value in actual.items():
                if value != expected[key]:
                    raise ConfigError(
                        f'--keep-batch computed the accumulation for {expected[key]} {key} from '
                        f'the launcher environment, but the run has {value}: '
                        f'{effective_batch_line(expected)} does not hold')
            runner.logger.info(effective_batch_line(expected))
        if self.accumulation > 1 and self._schedulers(runner):
            self._rebuild_in_optimizer_steps(runner)

    def _rebuild_in_optimizer_steps(self, runner) -> None:
        """Rebuild the config's schedulers with epochs converted to optimizer steps."""
        iterations = len(runner.train_dataloader)
        steps = iterations / self.accumulation
        if iterations % self.accumulation:
            runner.logger.warning(
                f'an epoch has {iterations} iterations, not a multiple of the accumulation '
                f'{self.accumulation}: accumulation windows run across epochs and epochs are '
                f'converted to {steps:g} optimizer steps')
        else:
            steps = iterations // self.accumulation
        configs = runner.cfg.get('param_scheduler')
        configs = copy.deepcopy(configs if isinstance(configs, (list, tuple)) else [configs])
        for config in configs:
            if config.get('convert_to_iter_based', False):
                config['epoch_length'] = steps  # the Runner's default is len(train_dataloader)
        # undo the built schedulers' first step, as a fresh build expects (ResumeCheckHook does the
        # same when it rebuilds): every scheduled value back to its initial one
        groups = runner.optim_wrapper.optimizer.param_groups
        for name in {s.param_name for s in self._schedulers(runner)}:
            for group in groups:
                group[name] = group.pop(f'initial_{name}')
        runner.param_schedulers = runner.build_param_scheduler(configs)
        converted = [type(s).__name__ for s, c in zip(runner.param_schedulers, configs)
                     if c.get('convert_to_iter_based', False)]
        runner.logger.info(f'OptimStepParamSchedulerHook: iteration schedules count optimizer '
                           f'steps ({self.accumulation} iterations each); {converted or "none"} '
                           f'converted at {steps:g} steps per epoch')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Remember the optimizer wrapper's count, to see whether this iteration steps."""
        self._count_before = runner.optim_wrapper.inner_count

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Step the iteration-based schedulers if the optimizer stepped in this iteration.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        wrapper = runner.optim_wrapper
        if wrapper.inner_count == self._count_before or not wrapper.should_update():
            return  # a micro-batch of the window (or a skipped step): the optimizer did not step
        for scheduler in self._schedulers(runner):
            if not scheduler.by_epoch:
                scheduler.step()
