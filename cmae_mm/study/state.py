"""What a study's work dirs hold: each run's state, the plan built from it.

A run's state is read from its work dir only (nothing is changed): its checkpoints
(``epoch_<n>.pth`` / ``iter_<n>.pth``, ``last_checkpoint``), its ``result.json`` and the schedule
length of its config.

* :class:`RunState` and :func:`inspect_run` - ``done`` / ``partial`` / ``todo`` per run.
* :func:`plan`, :func:`plan_text` and :func:`format_table` - one row per (run, seed), with the
  GPU-hours still to spend, as rows and as a terminal table (``tools/study/study.py plan``).
"""
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

from .common import show_path
from .spec import Study, StudyRun

if TYPE_CHECKING:
    from mmengine.config import Config

__all__ = ['CHECKPOINT', 'RESULT_FILE', 'RunState', 'format_table', 'inspect_run', 'plan',
           'plan_text']

RESULT_FILE = 'result.json'
CHECKPOINT = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


@dataclass(frozen=True)
class RunState:
    """What a run's work dir holds.

    Args:
        status: ``done`` (final checkpoint and ``result.json``), ``partial`` (anything else
            started) or ``todo`` (nothing yet).
        detail: Human-readable state, e.g. ``epoch 3/10``.
        done_units: Epochs (or iterations) of the newest checkpoint, 0 without one.
        max_units: ``train_cfg.max_epochs`` (or ``max_iters``).
        by_epoch: Whether the units are epochs.
        final_checkpoint: Path of the final checkpoint (may not exist yet).
        has_checkpoint: Whether any checkpoint exists (so training would ``--resume``).
        has_result: Whether ``result.json`` exists.
    """

    status: str
    detail: str
    done_units: int
    max_units: int
    by_epoch: bool
    final_checkpoint: Path
    has_checkpoint: bool
    has_result: bool

    @property
    def trained(self) -> bool:
        """Whether the final checkpoint exists."""
        return self.final_checkpoint.is_file()


def _run_config(run: StudyRun, import_custom_modules: bool = True) -> 'Config':
    """The run's config with its ``--cfg-options`` merged (what ``tools/train.py`` builds).

    Args:
        run: The run.
        import_custom_modules: Import the config's ``custom_imports`` (not needed to read the
            schedule length).
    """
    from mmengine.config import Config

    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
        cfg = Config.fromfile(str(run.config_path), import_custom_modules=import_custom_modules)
    cfg.merge_from_dict(run.cfg_options)
    return cfg


_LENGTHS: Dict[Tuple[str, str], Tuple[int, bool]] = {}


def _schedule_length(run: StudyRun) -> Tuple[int, bool]:
    """``(max_epochs, True)`` or ``(max_iters, False)`` of the run's config (cached)."""
    key = (str(run.config_path), json.dumps(run.spec.cfg_options, sort_keys=True, default=str))
    if key not in _LENGTHS:
        train_cfg = _run_config(run, import_custom_modules=False).get('train_cfg') or {}
        if train_cfg.get('max_epochs'):
            _LENGTHS[key] = (int(train_cfg['max_epochs']), True)
        elif train_cfg.get('max_iters'):
            _LENGTHS[key] = (int(train_cfg['max_iters']), False)
        else:
            raise ValueError(f'{run.name}: the config {run.spec.config} has neither '
                             'train_cfg.max_epochs nor train_cfg.max_iters')
    return _LENGTHS[key]


def _checkpoint_units(work_dir: Path, by_epoch: bool) -> int:
    """Epochs (iterations) of the newest checkpoint in ``work_dir`` (``last_checkpoint``, files)."""
    kind = 'epoch' if by_epoch else 'iter'
    units = [0]
    for path in work_dir.glob(f'{kind}_*.pth'):
        match = CHECKPOINT.match(path.name)
        if match:
            units.append(int(match.group(2)))
    last = work_dir / 'last_checkpoint'
    if last.is_file():
        match = CHECKPOINT.match(Path(last.read_text().strip()).name)
        if match and match.group(1) == kind:
            units.append(int(match.group(2)))
    return max(units)


def inspect_run(run: StudyRun) -> RunState:
    """Read the state of a run's work dir (nothing is changed).

    Args:
        run: The run.

    Returns:
        RunState: Its state.
    """
    max_units, by_epoch = _schedule_length(run)
    unit = 'epoch' if by_epoch else 'iter'
    wd = run.work_dir
    final = wd / f'{unit}_{max_units}.pth'
    has_result = (wd / RESULT_FILE).is_file()
    done_units = _checkpoint_units(wd, by_epoch) if wd.is_dir() else 0
    has_checkpoint = done_units > 0
    if final.is_file() and has_result:
        status, detail = 'done', 'trained and evaluated'
    elif has_result:
        status, detail = 'partial', (f'{RESULT_FILE} without the final checkpoint {final.name} '
                                     f'(kept; move it away to re-run)')
    elif final.is_file():
        status, detail = 'partial', f'trained ({unit} {max_units}), not evaluated'
    elif has_checkpoint:
        status, detail = 'partial', f'{unit} {done_units}/{max_units}'
    elif wd.is_dir() and any(wd.iterdir()):
        status, detail = 'partial', 'started, no checkpoint yet'
    else:
        status, detail = 'todo', 'not started'
    return RunState(status, detail, min(done_units, max_units), max_units, by_epoch, final,
                    has_checkpoint, has_result)


def plan(study: Study) -> List[Dict[str, Any]]:
    """One row per (run, seed) of the study.

    Args:
        study: The study.

    Returns:
        List[dict]: ``name``, ``config``, ``seed``, ``work_dir``, ``cfg_options`` (the
        ``--cfg-options`` text), ``status`` (``done``/``partial``/``todo``), ``detail``,
        ``epochs`` (``done/total``) and, when the study gives ``epoch_hours``, ``gpu_hours``: the
        estimate of what is left (``epoch_hours`` x epochs to go).
    """
    rows = []
    for r in study.expand():
        state = inspect_run(r)
        row = dict(name=r.name, config=r.spec.config, seed=r.seed, work_dir=show_path(r.work_dir),
                   cfg_options=' '.join(r.option_args()), status=state.status, detail=state.detail,
                   epochs=f'{state.done_units}/{state.max_units}')
        if study.epoch_hours is not None:
            left = 0 if state.trained else state.max_units - state.done_units
            row['gpu_hours'] = round(study.epoch_hours * left, 2) if state.by_epoch else None
        rows.append(row)
    return rows


def plan_text(study: Study, rows: Sequence[Dict[str, Any]]) -> str:
    """The plan as a terminal table with a summary line (``tools/study/study.py plan``).

    Args:
        study: The study.
        rows: :func:`plan` of it.

    Returns:
        str: The text.
    """
    columns = ['name', 'status', 'epochs', 'detail', 'config', 'cfg_options', 'work_dir']
    if study.epoch_hours is not None:
        columns.insert(3, 'gpu_hours')
    counts = {s: sum(r['status'] == s for r in rows) for s in ('done', 'partial', 'todo')}
    summary = f'{len(rows)} runs: ' + ', '.join(f'{n} {s}' for s, n in counts.items())
    if study.epoch_hours is not None:
        total = sum(r['gpu_hours'] or 0 for r in rows)
        summary += f'; about {total:g} GPU-hours left ({study.epoch_hours:g} per epoch)'
    return format_table(rows, columns) + '\n' + summary


def format_table(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of ``rows`` (left-aligned columns), for the terminal.

    Args:
        rows: Dicts with (at least) the ``columns``.
        columns: Column keys, in order.

    Returns:
        str: Header, rule and one line per row.
    """
    cells = [[str(c) for c in columns]] + [
        ['' if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ['  '.join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)
