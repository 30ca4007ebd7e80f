"""One trial of a dense recipe search on the validation scenes, recorded as a JSON file.

A trial trains a dense config (``tools/train.py``, a subprocess, as the study's dense evaluations
run it: :func:`~cmae_mm.study.evaluations.train_and_score`) for ``iters`` iterations with the
config's schedule scaled to that length (:func:`~cmae_mm.study.dense.iter_schedule_options`),
validates on the **validation** scenes every ``val_interval`` iterations (the configs'
``val_dataloader``), scores the last checkpoint on the validation scenes once more with
``tools/test.py`` (for the per-class values) and writes ``<out_dir>/<name>.json``:

* ``trial``, ``task``, ``config``, ``checkpoint`` (None: from scratch), ``cfg_options`` (every
  ``--cfg-options`` the trial trained with), ``split``;
* ``validation``: the validation curve, one entry per validation (``iteration`` and the logged
  metrics: mIoU / aAcc / mAcc, or the COCO mAPs in percent);
* ``final``: the study's metric names and values of the final validation score
  (:func:`~cmae_mm.study.dense.study_metrics`, per-class IoU included for segmentation);
* ``train_loss_logged``: the logged training loss (``iteration``, ``loss``);
* ``mean_logged_iter_s``: the mean of the logged iteration times (moves with the machine's load).

A work dir that already holds the final checkpoint is only scored (and its record rewritten);
one with an earlier checkpoint is resumed. The test scenes are never read.
"""
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

from .common import repo_path, show_path
from .dense import TASKS, _arm_options, _check_config, _score, study_metrics
from .logs import logged_entries

__all__ = ['read_curve', 'recipe_table', 'recipe_trial']


def read_curve(work_dir: Path, metrics: List[str]) -> Dict[str, Any]:
    """The validation curve, the logged loss and the mean iteration time of a work dir.

    Args:
        work_dir: An mmengine work dir of an iteration-based run (every launch's
            ``<stamp>/vis_data/scalars.json`` is read, so a resumed run gives its whole history).
        metrics: The validation metrics to keep (as logged, e.g. ``['mIoU', 'aAcc', 'mAcc']``).

    Returns:
        Dict with ``validation`` (``[{'iteration': N, <metric>: value, ...}]``),
        ``train_loss_logged`` (``[{'iteration': N, 'loss': value}]``) and
        ``mean_logged_iter_s`` (None without a logged training iteration).
    """
    files = ('vis_data/scalars.json', )
    validation = {entry['step']: {'iteration': entry['step'], **{m: entry[m] for m in metrics}}
                  for _, entry in logged_entries(work_dir, files,
                                                 lambda e: metrics[0] in e and 'step' in e)}
    train = {entry['iter']: entry for _, entry in logged_entries(
        work_dir, files, lambda e: 'loss' in e and 'iter' in e)}
    times = [entry['time'] for entry in train.values() if 'time' in entry]
    return dict(validation=[validation[k] for k in sorted(validation)],
                train_loss_logged=[dict(iteration=k, loss=train[k]['loss'])
                                   for k in sorted(train)],
                mean_logged_iter_s=statistics.fmean(times) if times else None)


def recipe_trial(name: str, work_dir: Path, out_dir: Path, task: str = 'segmentation',
                 config: Optional[str] = None, checkpoint: Optional[str] = None,
                 iters: int = 1500, warmup: Optional[int] = None,
                 val_interval: Optional[int] = None,
                 cfg_options: Optional[Dict[str, Any]] = None, seed: int = 0,
                 data_root: Optional[str] = None) -> Dict[str, Any]:
    """Train, validate and record one recipe trial (see the module docstring).

    Args:
        name: The trial's name (its record ``<out_dir>/<name>.json``).
        work_dir: The trial's training work dir.
        out_dir: Folder of the records.
        task: ``'segmentation'`` or ``'detection'``.
        config: The dense config (default: the task's).
        checkpoint: Pre-training checkpoint, loaded with ``--pretrained``; None trains from
            scratch (``model.backbone.init_cfg=None``).
        iters: Training iterations.
        warmup: Warm-up iterations (default: the config's share).
        val_interval: Iterations between validations (default: the config's share).
        cfg_options: Further ``--cfg-options`` (lr, layer decay, ...), applied last.
        seed: ``randomness.seed`` of the training.
        data_root: Scene folder (default: the config's).

    Returns:
        The record written.

    Raises:
        ValueError: An unknown task, a bad schedule, or a work dir trained with other options.
        FileNotFoundError: The checkpoint is missing.
    """
    if task not in TASKS:
        raise ValueError(f'recipe trial: task={task!r}: allowed: {", ".join(TASKS)}')
    dense = TASKS[task]
    where = f'recipe trial {name}'
    config = _check_config(config or dense.config, dense, where)
    options = dict(cfg_options or {})
    if val_interval is not None:
        if not isinstance(val_interval, int) or not 0 < val_interval <= iters:
            raise ValueError(f'{where}: val_interval={val_interval!r}: allowed: an integer in '
                             f'1..{iters}')
        options['train_cfg.val_interval'] = val_interval
    train_args: List[str] = []
    if checkpoint is None:
        options['model.backbone.init_cfg'] = None
    else:
        if not repo_path(checkpoint).is_file():
            raise FileNotFoundError(f'{where}: no pre-training checkpoint {checkpoint}')
        train_args = ['--pretrained', checkpoint]
    options, final, merged = _arm_options(dense, config, seed, iters, warmup, options, data_root,
                                           where)
    work_dir = repo_path(work_dir)
    # the checkpoint is part of the recipe: another one is refused as another option would be
    logged = _score(dense, config, work_dir, options, final, merged, 'val', train_args,
                    recorded=dict(pretrained=checkpoint))
    curve_metrics = list(dense.metrics)
    curve = read_curve(work_dir, curve_metrics)
    result = dict(trial=name, task=task, config=config, checkpoint=checkpoint,
                  cfg_options=options, split='validation scenes', **curve,
                  final=study_metrics(dense, logged), work_dir=show_path(work_dir))
    from ..engine.atomic_io import atomic_write_bytes

    out = repo_path(out_dir) / f'{name}.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes((json.dumps(result, indent=1) + '\n').encode(), out)
    return result


#: Options shown in their own column of :func:`recipe_table` (the rest goes to "other").
TABLE_OPTIONS = {'optim_wrapper.optimizer.lr': 'lr',
                 'optim_wrapper.paramwise_cfg.layer_decay_rate': 'layer decay'}
#: Options every trial sets from its schedule (not shown).
SCHEDULE_OPTIONS = ('randomness.seed', 'train_cfg.max_iters', 'train_cfg.val_interval',
                    'default_hooks.checkpoint.interval', 'model.backbone.init_cfg')


def recipe_table(out_dir: Path) -> str:
    """A markdown table of every trial record in ``out_dir`` (:func:`recipe_trial`'s files).

    One row per trial, ordered by start (pre-trained, then from scratch) and name: its
    checkpoint, lr, layer decay, other options, iterations (warm-up), the validation curve of
    the first logged metric, its final value and the mean logged iteration time. A folder with
    trials of several tasks gets one table per task (in name order), each under its task's name.

    Args:
        out_dir: Folder of the ``<name>.json`` records.

    Returns:
        str: The table(s) (header included).
    """
    records = [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob('*.json'))]
    records = [r for r in records if 'trial' in r and 'validation' in r]
    by_task: Dict[str, List[Dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r.get('task', 'segmentation'), []).append(r)
    if len(by_task) <= 1:
        return _task_table(records)
    return '\n\n'.join(f'**{task}**\n\n' + _task_table(by_task[task])
                       for task in sorted(by_task))


def _task_table(records: List[Dict[str, Any]]) -> str:
    """:func:`recipe_table` for the records of one task."""
    records = sorted(records, key=lambda r: (r.get('checkpoint') is None, r['trial']))
    metric = next((k for r in records for v in r['validation'] for k in v if k != 'iteration'),
                  'mIoU')
    lines = [f'| trial | start | lr | layer decay | other options | iterations (warm-up) | '
             f'{metric} on the validation scenes, per validation | final | s/iteration |',
             '|---|---|---:|---:|---|---|---|---:|---:|']
    for r in records:
        options = r['cfg_options']
        start = 'from scratch' if r.get('checkpoint') is None else f"`{r['checkpoint']}`"
        shown = [options.get(k, 'config') for k in TABLE_OPTIONS]
        other = ', '.join(f'{k}={v}' for k, v in options.items()
                          if k not in TABLE_OPTIONS and k not in SCHEDULE_OPTIONS
                          and not k.startswith('param_scheduler.')) or '-'
        warmup = options.get('param_scheduler.0.end', '?')
        curve = ' / '.join(f"{v['iteration']}: {v[metric]:g}" for v in r['validation'])
        final = r['validation'][-1][metric] if r['validation'] else float('nan')
        speed = r.get('mean_logged_iter_s')
        lines.append(f"| `{r['trial']}` | {start} | {shown[0]:g} | "
                     f"{shown[1] if isinstance(shown[1], str) else format(shown[1], 'g')} | "
                     f"{other} | {options.get('train_cfg.max_iters', '?')} ({warmup}) | {curve} | "
                     f"**{final:g}** | {'-' if speed is None else format(speed, '.2f')} |")
    return '\n'.join(lines)
