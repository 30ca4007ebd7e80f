"""Plan, run, collect and report a study (:mod:`cmae_mm.study.spec`) with the repo's own tools.

* :func:`plan` - one row per (run, seed): config, options, work dir, status (``done`` /
  ``partial`` / ``todo``) and the GPU-hours still to spend (with ``epoch_hours``).
* :func:`run` - launches every unfinished run in a subprocess through ``tools/train.py``
  (``local``), ``tools/dist_train.sh`` (``dist``) or ``tools/slurm_train.sh`` (``slurm``), resuming
  runs that have a checkpoint, then runs the study's evaluations and writes
  ``<work_dir>/result.json``. Finished runs are skipped; an existing ``result.json`` is never
  overwritten.
* :func:`collect` - reads every work dir (mmengine's ``<timestamp>/vis_data/scalars.json`` and
  ``result.json``) into ``<work_root>/<study>/results.{json,csv}``.
* :func:`report` (from :mod:`cmae_mm.study.report`) - markdown table and figures.

Subprocesses run in the repository root, so relative paths in a study (configs, data roots in
``cfg_options``) mean the same for the training tools and for the evaluations.
"""
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .logs import logged_entries
from .report import report
from .common import REPO_ROOT, repo_path
from .spec import Study, StudyRun

__all__ = ['STUDY_LAUNCHERS', 'RunState', 'StudyLockedError', 'collect', 'format_table', 'inspect_run', 'plan', 'plan_text',
           'read_training_log', 'report', 'run', 'study_lock', 'train_command']

STUDY_LAUNCHERS = ('local', 'dist', 'slurm')
RESULT_FILE = 'result.json'
TRAIN_LOG = 'study_train.log'
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


def _run_config(run: StudyRun, import_custom_modules: bool = True):
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
        row = dict(name=r.name, config=r.spec.config, seed=r.seed, work_dir=_show_path(r.work_dir),
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


def _show_path(path: Path) -> str:
    """``path`` relative to the repository root when inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def train_command(run: StudyRun, launcher: str = 'local', gpus: int = 1,
                  partition: Optional[str] = None, resume: bool = False
                  ) -> Tuple[List[str], Dict[str, str]]:
    """The command (and extra environment) that pre-trains one run with the repo's tools.

    Args:
        run: The run.
        launcher: ``local`` (``tools/train.py``, one process), ``dist``
            (``tools/dist_train.sh CONFIG GPUS``, torchrun) or ``slurm``
            (``tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR`` with ``GPUS`` set).
        gpus: Processes (GPUs) for ``dist`` and ``slurm``.
        partition: Slurm partition (``slurm`` only).
        resume: Add ``--resume`` (continue from the newest checkpoint in the work dir).

    Returns:
        Tuple[List[str], Dict[str, str]]: argv, and environment variables to add.

    Raises:
        ValueError: For an unknown launcher, ``gpus < 1``, ``gpus > 1`` with ``local`` or
            ``slurm`` without a partition.
    """
    if launcher not in STUDY_LAUNCHERS:
        raise ValueError(f'unknown launcher {launcher!r}; allowed: {", ".join(STUDY_LAUNCHERS)}')
    if gpus < 1:
        raise ValueError(f'gpus={gpus}: must be at least 1')
    config, work_dir = str(run.config_path), str(run.work_dir)
    tail = (['--resume'] if resume else []) + ['--cfg-options'] + run.option_args()
    env: Dict[str, str] = {}
    if launcher == 'local':
        if gpus != 1:
            raise ValueError(f'gpus={gpus} needs launcher dist or slurm (local runs one process)')
        cmd = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), config,
               '--work-dir', work_dir] + tail
    elif launcher == 'dist':
        cmd = ['bash', str(REPO_ROOT / 'tools' / 'dist_train.sh'), config, str(gpus),
               '--work-dir', work_dir] + tail
    else:
        if not partition:
            raise ValueError('launcher slurm needs a partition')
        job = re.sub(r'[^A-Za-z0-9_.+-]', '_', run.name)
        cmd = ['bash', str(REPO_ROOT / 'tools' / 'slurm_train.sh'), partition, job, config,
               work_dir] + tail
        env['GPUS'] = str(gpus)
    return cmd, env


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(['git', *args], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> Dict[str, Any]:
    """``git_commit`` (``git rev-parse HEAD``) and ``git_dirty`` (tracked files modified)."""
    commit = _git('rev-parse', 'HEAD')
    status = _git('status', '--porcelain', '--untracked-files=no')
    return dict(git_commit=commit, git_dirty=None if status is None else bool(status))


@contextmanager
def _in_repo_root() -> Iterator[None]:
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        yield
    finally:
        os.chdir(cwd)


def evaluate_run(study: Study, run: StudyRun, checkpoint: Path,
                 evaluations: Optional[Sequence[Tuple[str, Dict[str, Any]]]] = None
                 ) -> Dict[str, float]:
    """Run the study's evaluations on a run's final checkpoint (in the repository root).

    Args:
        study: The study (its ``evaluations``).
        run: The run.
        checkpoint: Its final checkpoint.
        evaluations: Only these ``(name, options)`` (default: all of the study's).

    Returns:
        Dict[str, float]: All metrics of all evaluations.
    """
    from .evaluations import EVALUATIONS

    cfg = _run_config(run)
    metrics: Dict[str, float] = {}
    with _in_repo_root():
        for name, options in (study.evaluations if evaluations is None else evaluations):
            metrics.update(EVALUATIONS[name](cfg, checkpoint, run.seed, **options))
    return metrics


def added_evaluations(study: Study, result: Dict[str, Any]
                      ) -> List[Tuple[str, Dict[str, Any]]]:
    """The study's evaluations that a run's ``result.json`` does not hold yet (by name).

    An evaluation added to a study file after its runs were evaluated is run on them by the next
    ``run``; an evaluation already in ``result.json`` is never re-run, even if its options
    changed (move the ``result.json`` away to re-evaluate everything). A ``result.json`` that
    does not record its evaluations (written by hand or by an older runner) counts as complete.
    """
    if 'evaluations' not in result:
        return []
    done = {e.get('name') for e in result.get('evaluations') or []}
    return [(name, options) for name, options in study.evaluations if name not in done]


def _add_evaluations(r: StudyRun, result: Dict[str, Any],
                     pending: List[Tuple[str, Dict[str, Any]]], study: Study) -> Dict[str, Any]:
    """Run ``pending`` on a finished run and rewrite its ``result.json`` (atomically) with the
    new metrics, the evaluations appended and their time in ``added_evaluations``."""
    from ..engine.atomic_io import atomic_write_bytes

    t0 = time.time()
    metrics = evaluate_run(study, r, repo_path(result['checkpoint']), pending)
    updated = dict(result)
    updated['metrics'] = {**result.get('metrics', {}), **metrics}
    updated['evaluations'] = list(result.get('evaluations') or []) + [
        dict(name=n, **o) for n, o in pending]
    updated['added_evaluations'] = list(result.get('added_evaluations') or []) + [dict(
        names=[n for n, _ in pending], eval_time_s=round(time.time() - t0, 1), **git_state(),
        finished_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))]
    atomic_write_bytes((json.dumps(updated, indent=2) + '\n').encode(), r.work_dir / RESULT_FILE)
    return updated


def compute_controls(study: Study, seeds: Optional[Sequence[int]] = None,
                     out: Callable[..., None] = print) -> Dict[int, Dict[str, float]]:
    """Compute the controls of a study's evaluations for some seeds, ahead of (or beside) its runs.

    The controls of ``finetune`` (from scratch) and ``pixel_baselines`` depend only on the seed and
    their recipe, and ``run`` reuses a control that is already there; computing them in other
    processes while the pre-training runs keeps every core busy. Each control is computed under
    its lock, so ``run`` and ``controls`` never train the same one twice.

    Args:
        study: The study.
        seeds: Seeds to compute (default: all of the study's).
        out: Progress printer (one line per seed).

    Returns:
        Dict[int, Dict[str, float]]: Seed -> control metrics.
    """
    from .evaluations import CONTROL_EVALUATIONS, EVALUATIONS

    unknown = sorted(set(seeds or ()) - set(study.seeds))
    if unknown:
        raise ValueError(f'seeds {unknown} are not seeds of {study.name} ({list(study.seeds)})')
    found: Dict[int, Dict[str, float]] = {}
    runs = study.expand()
    for seed in seeds or study.seeds:
        run = next(r for r in runs if r.seed == seed)
        cfg = _run_config(run)
        metrics: Dict[str, float] = {}
        with _in_repo_root():
            for name, options in study.evaluations:
                if name in CONTROL_EVALUATIONS:
                    metrics.update(EVALUATIONS[name](cfg, run.work_dir / 'controls-only.pth',
                                                     seed, controls_only=True, **options))
        found[seed] = metrics
        out(f'seed {seed}: ' + (' '.join(f'{k}={v:.2f}' for k, v in metrics.items())
                                or 'no controls'))
    return found


def prepare_data(study: Study, dry_run: bool = False, out: Callable[[str], None] = print) -> None:
    """Write the study's ``prepare`` datasets (each preparer keeps data already on disk).

    Args:
        study: The study.
        dry_run: Only print what would be prepared.
        out: Where progress lines go.
    """
    from .data import PREPARERS

    for name, options in study.prepare:
        options = dict(options)
        if 'root' in options:
            options['root'] = str(repo_path(options['root']))
        if dry_run:
            out(f'would prepare {name} {options}')
        else:
            out(f'prepare: {PREPARERS[name](**options)}')


def _print(text: str, end: str = '\n') -> None:
    print(text, end=end, flush=True)


def _write_result(path: Path, result: Dict[str, Any]) -> None:
    """Write ``result.json`` complete or not at all; never replaces an existing file.

    The JSON goes to a temporary file in the same folder (fsync-ed), which is then hard-linked to
    ``path`` (``FileExistsError`` if ``path`` exists) and removed, so a kill mid-write never
    leaves a truncated ``result.json`` that later runs would keep.
    """
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.part', dir=path.parent)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(result, f, indent=2)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


LOCK_FILE = '.study.lock'


class StudyLockedError(RuntimeError):
    """Another ``study.py run`` of the same study is running."""


def _flock(path: Path, shared: bool, what: str):
    """Open ``path`` and take an ``flock`` on it without waiting; the open file, or raise."""
    import fcntl

    f = open(path, 'a+')
    try:
        fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or 'unknown process'
        f.close()
        raise StudyLockedError(
            f'another `study.py run` holds {what} ({holder}; lock {_show_path(path)}): wait for '
            'it to finish or stop it, then run again') from None
    if not shared:
        f.seek(0)
        f.truncate()
        f.write(f'pid {os.getpid()}, started {time.strftime("%Y-%m-%dT%H:%M:%S%z")}\n')
        f.flush()
    return f


@contextmanager
def study_lock(study: Study, only: Optional[Sequence[str]] = None) -> Iterator[None]:
    """Hold the study's lock (``flock``) for the block.

    A run of the whole study holds ``<study dir>/.study.lock`` exclusively. A run of selected
    runs (``only``) holds it shared and each selected run's ``<study dir>/.<run>.lock``
    exclusively, so several ``run --only`` processes can work on disjoint runs of one study at
    once (e.g. one per core), while two processes never train the same run. The kernel releases
    an ``flock`` when its process dies, so a killed run never leaves the study locked; the file
    only records who held it last.

    Args:
        study: The study.
        only: The selected runs' names (``<run>_seed<k>``), as :func:`run` matched them.

    Raises:
        StudyLockedError: If another process holds a lock this one needs (naming its pid and
            start time).
    """
    import fcntl

    study.study_dir.mkdir(parents=True, exist_ok=True)
    held = [_flock(study.study_dir / LOCK_FILE, bool(only), f'study {study.name}')]
    try:
        for name in sorted(set(only or ())):
            held.append(_flock(study.study_dir / f'.{name}.lock', False, f'run {name}'))
        yield
    finally:
        for f in reversed(held):
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])
    except OSError:
        return ''


def run(study: Study, launcher: str = 'local', gpus: int = 1, partition: Optional[str] = None,
        dry_run: bool = False, only: Optional[Sequence[str]] = None,
        out: Callable[..., None] = _print, train_only: bool = False) -> List[Dict[str, Any]]:
    """Pre-train and evaluate every unfinished run of a study (:func:`_run_unlocked`), holding
    the study's lock (:func:`study_lock`; a dry run takes no lock).

    Raises:
        StudyLockedError: Another ``run`` of the same study is running.
    """
    if dry_run:
        return _run_unlocked(study, launcher, gpus, partition, dry_run, only, out, train_only)
    if not only:
        with study_lock(study):
            return _run_unlocked(study, launcher, gpus, partition, dry_run, only, out, train_only)
    selected = [r.work_dir.name for r in study.expand()
                if {r.name, r.spec.name, r.work_dir.name} & set(only)]
    with study_lock(study, selected):
        return _run_unlocked(study, launcher, gpus, partition, dry_run, only, out, train_only)


def _run_unlocked(study: Study, launcher: str = 'local', gpus: int = 1,
                  partition: Optional[str] = None, dry_run: bool = False,
                  only: Optional[Sequence[str]] = None,
                  out: Callable[..., None] = _print,
                  train_only: bool = False) -> List[Dict[str, Any]]:
    """Pre-train and evaluate every unfinished run of a study, one after the other.

    Per run: ``done`` -> skipped, or only the evaluations added to the study file since
    (:func:`added_evaluations`); trained but not evaluated -> evaluations only; a checkpoint in
    the work dir -> training with ``--resume``; otherwise training from scratch. Training output
    goes to ``<work_dir>/study_train.log`` (mmengine's own log is in ``<work_dir>/<timestamp>/``).
    After training, the evaluations run in this process and ``<work_dir>/result.json`` is written
    with the metrics, config, options, seed, git commit and wall time. A run with a
    ``result.json`` but no final checkpoint is left alone (its result is never overwritten).

    Args:
        study: The study.
        launcher: ``local``, ``dist`` or ``slurm`` (see :func:`train_command`).
        gpus: Processes (GPUs) per run for ``dist``/``slurm``.
        partition: Slurm partition.
        dry_run: Print the commands instead of running anything.
        only: Run only these: run names (all seeds), ``<run>_seed<k>`` or ``<study>/<run>_seed<k>``.
        out: Prints the progress, called like :func:`print` (``end=' '`` continues a line): one
            line per run.
        train_only: Pre-train only: no evaluation and no ``result.json`` (a later ``run``
            evaluates the trained checkpoints), e.g. while the evaluation recipe is being chosen.

    Returns:
        List[dict]: Per run ``name``, ``action`` (``skipped``, ``kept``, ``trained``,
        ``evaluated``, ``would-train``, ``would-evaluate``, ``failed``) and ``result`` (or None).

    Raises:
        ValueError: For bad launcher options, or if ``only`` matches no run.
    """
    train_command(study.expand()[0], launcher, gpus, partition)  # check the launcher options
    runs = [r for r in study.expand()
            if not only or {r.name, r.spec.name, r.work_dir.name} & set(only)]
    if not runs:
        raise ValueError(f'no run of {study.name} matches {list(only or [])}; runs: '
                         f'{", ".join(s.name for s in study.runs)} (or <run>_seed<k>)')
    prepare_data(study, dry_run, out)
    outcomes = []
    for i, r in enumerate(runs, 1):
        head = f'[{i}/{len(runs)}] {r.name}:'
        state = inspect_run(r)
        outcome: Dict[str, Any] = dict(name=r.name, action=None, result=None)
        outcomes.append(outcome)
        if state.status == 'done':
            result = json.loads((r.work_dir / RESULT_FILE).read_text())
            pending = [] if train_only else added_evaluations(study, result)
            if not pending:
                outcome['action'] = 'skipped'
                out(f'{head} done, skipped ({_show_path(r.work_dir / RESULT_FILE)})')
                continue
            names = ', '.join(n for n, _ in pending)
            if dry_run:
                outcome['action'] = 'would-evaluate'
                out(f'{head} done; would add the evaluation(s) {names} to {RESULT_FILE}')
                continue
            try:
                outcome['result'] = _add_evaluations(r, result, pending, study)
            except Exception as e:  # noqa: BLE001  (report, keep going with the other runs)
                outcome['action'] = 'failed'
                detail = ''.join(traceback.format_exception_only(type(e), e)).strip()
                out(f'{head} FAILED added evaluation ({names}): {detail}')
                continue
            outcome['action'] = 'evaluated'
            out(f'{head} done; added the evaluation(s) {names} to {RESULT_FILE}')
            continue
        if state.has_result:
            outcome['action'] = 'kept'
            out(f'{head} skipped: {state.detail}')
            continue
        resume = state.has_checkpoint and not state.trained
        if train_only and state.trained:
            outcome['action'] = 'skipped'
            out(f'{head} trained, skipped (--train-only: not evaluated)')
            continue
        cmd, env = train_command(r, launcher, gpus, partition, resume)
        evals = ', '.join(name for name, _ in study.evaluations) or 'none'
        if dry_run:
            if state.trained:
                outcome['action'] = 'would-evaluate'
                out(f'{head} trained; would evaluate ({evals}) -> {RESULT_FILE}')
            else:
                outcome['action'] = 'would-train'
                env_text = ''.join(f'{k}={v} ' for k, v in env.items())
                out(f'{head} would run: {env_text}{shlex.join(cmd)}  '
                    + ('(--train-only)' if train_only else f'(then evaluate: {evals})'))
            continue
        t0 = time.time()
        train_time = None
        note = ''
        if not state.trained:
            r.work_dir.mkdir(parents=True, exist_ok=True)
            log = r.work_dir / TRAIN_LOG
            note = f'resume from {"epoch" if state.by_epoch else "iter"} {state.done_units}' \
                if resume else 'from scratch'
            out(f'{head} training ({note}) ...', end=' ')
            with open(log, 'a') as f:
                f.write(f'\n$ {shlex.join(cmd)}\n')
                f.flush()
                proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT,
                                      env={**os.environ, **env})
            train_time = time.time() - t0
            if proc.returncode != 0 or not state.final_checkpoint.is_file():
                why = (f'exit code {proc.returncode}' if proc.returncode != 0
                       else f'no {state.final_checkpoint.name}')
                outcome['action'] = 'failed'
                out(f'FAILED ({why}); log: {_show_path(log)}\n{_tail(log)}')
                continue
        if train_only:
            outcome['action'] = 'trained'
            out(f'trained in {train_time:.0f} s (--train-only: not evaluated)')
            continue
        t1 = time.time()
        try:
            metrics = evaluate_run(study, r, state.final_checkpoint)
        except Exception as e:  # noqa: BLE001  (report, keep going with the other runs)
            outcome['action'] = 'failed'
            detail = ''.join(traceback.format_exception_only(type(e), e)).strip()
            out(f'FAILED evaluation: {detail}' if train_time is not None
                else f'{head} FAILED evaluation: {detail}')
            continue
        eval_time = time.time() - t1
        result = dict(
            name=r.name, study=r.study, run=r.spec.name, seed=r.seed, config=r.spec.config,
            cfg_options=r.cfg_options, notation=r.spec.notation, work_dir=_show_path(r.work_dir),
            checkpoint=_show_path(state.final_checkpoint), metrics=metrics,
            evaluations=[dict(name=n, **o) for n, o in study.evaluations], **git_state(),
            launcher=launcher, gpus=gpus, resumed=resume, trained_now=train_time is not None,
            wall_time_s=round(time.time() - t0, 1),
            train_time_s=None if train_time is None else round(train_time, 1),
            eval_time_s=round(eval_time, 1),
            finished_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
        try:
            _write_result(r.work_dir / RESULT_FILE, result)
        except FileExistsError:
            outcome['action'] = 'kept'
            out(f'{head} {RESULT_FILE} appeared meanwhile; kept it, new metrics {metrics} '
                'not written')
            continue
        outcome.update(action='trained' if train_time is not None else 'evaluated',
                       result=result)
        shown = ' '.join(f'{k}={v:.2f}' for k, v in metrics.items())
        what = (f'trained in {train_time:.0f} s, ' if train_time is not None
                else 'evaluated the trained checkpoint, ')
        line = f'{what}evaluated in {eval_time:.0f} s: {shown or "no metrics"}'
        out(line if train_time is not None else f'{head} {line}')
    return outcomes


def read_training_log(work_dir: Path) -> Dict[str, Any]:
    """The final training losses of a run: means over its last epoch, from mmengine's scalars.

    Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON dict per line; falls back to
    ``<timestamp>/vis_data/<timestamp>.json``) of every launch (a resumed run logs in several).
    Each reported value is the mean of the lines logged in the last epoch (each line itself a mean
    over its logging window); runs logged without an ``epoch`` (iteration-based loops) use the
    lines after the last 10 % of their iterations.

    Args:
        work_dir: The run's work dir.

    Returns:
        dict: ``loss``, ``epoch``, ``iter``, ``rec_err`` (``{'rec_err_shot1': ..., ...}``),
        ``rec_err_trivial`` and ``rec_err_mean_patch`` (None if not logged), ``loss_lines``
        (how many lines were averaged) and ``log_dir`` (the newest launch); empty if nothing was
        logged.
    """
    found = logged_entries(work_dir, ('vis_data/scalars.json', 'vis_data/{stamp}.json'),
                           lambda entry: 'loss' in entry)
    if not found:
        return {}
    stamp_dir, last = found[-1]
    entries = [e for _, e in found]
    if last.get('epoch') is not None:
        tail = [e for e in entries if e.get('epoch') == last['epoch']]
    else:
        final = last.get('iter') or 0
        tail = [e for e in entries if (e.get('iter') or 0) >= 0.9 * final]

    def mean(key: str) -> Optional[float]:
        values = [e[key] for e in tail if isinstance(e.get(key), (int, float))]
        return statistics.fmean(values) if values else None

    rec = {k: mean(k) for k in sorted(last, key=_shot_key) if k.startswith('rec_err_shot')}
    return dict(loss=mean('loss'), epoch=last.get('epoch'), iter=last.get('iter'), rec_err=rec,
                rec_err_trivial=mean('rec_err_trivial'),
                rec_err_mean_patch=mean('rec_err_mean_patch'), loss_lines=len(tail),
                log_dir=_show_path(stamp_dir))


def _shot_key(key: str) -> Tuple[str, int]:
    match = re.match(r'^(.*?)(\d+)$', key)
    return (match.group(1), int(match.group(2))) if match else (key, 0)


def machine_label() -> str:
    """Where the results were measured: CPU model, cores, GPUs, torch version (for the zoo)."""
    import torch

    from ..analysis.common import cpu_name

    cpu = cpu_name()
    gpus = torch.cuda.device_count()
    gpu = f'{gpus}x {torch.cuda.get_device_name(0)}' if gpus else 'no GPU'
    return f'{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}'


def _merge_source(path: Path, study: Study) -> Dict[str, Dict[str, Any]]:
    """The finished runs of an earlier ``results.json`` of the same study, by run name.

    Args:
        path: An earlier ``results.json`` (e.g. the committed ``docs/results/<study>/results.json``).
        study: The study it must belong to.

    Returns:
        dict: ``{name: row}`` of its rows with status ``done`` and metrics, each with the
        ``machine`` it was measured on (its own, or the file's).

    Raises:
        ValueError: If the file is not a results file of this study (names the file and both
            study names).
    """
    try:
        data = json.loads(Path(path).read_text())
    except ValueError as e:
        raise ValueError(f'--merge {path}: not a results.json ({e})') from e
    if not isinstance(data, dict) or not isinstance(data.get('runs'), list):
        raise ValueError(f'--merge {path}: not a results.json (no "runs" list)')
    if data.get('study') != study.name:
        raise ValueError(f'--merge {path}: holds study {data.get("study")!r}, not {study.name!r}')
    machine = data.get('machine')
    return {row['name']: dict(row, machine=row.get('machine', machine)) for row in data['runs']
            if isinstance(row, dict) and row.get('status') == 'done' and row.get('metrics')}


def collect(study: Study, merge: Optional[Path] = None) -> Dict[str, Any]:
    """Gather every run of a study into ``<work_root>/<study>/results.json`` and ``results.csv``.

    A study continued on another machine, or after its work dirs were cleaned, keeps the runs it
    finished before through ``merge``: a run with nothing in its work dir (status ``todo``) whose
    row in ``merge`` is ``done`` is taken from there unchanged, with ``merged_from`` naming the
    file and ``machine`` the machine it was measured on. A run found in its work dir always wins,
    and a merged row keeps its own ``git_commit`` and ``wall_time_s``; when merged runs come from
    another machine, the study's ``machine`` label names both.

    Args:
        study: The study.
        merge: An earlier ``results.json`` of the same study, or None.

    Returns:
        dict: ``study``, ``study_file``, ``collected_at``, ``machine`` (:func:`machine_label`),
        ``metric_names`` and ``runs``: per
        (run, seed) its name, run, seed, status, config, options, schedule (``family``, ``arch``,
        ``layers``, ``ratios``, ``notation``), the last ``loss`` and ``rec_err`` per shot, the
        evaluation ``metrics`` (empty without ``result.json``), ``git_commit``, ``git_dirty`` and
        ``wall_time_s``.
    """
    rows = []
    metric_names: List[str] = []
    earlier = _merge_source(merge, study) if merge is not None else {}
    for r in study.expand():
        state = inspect_run(r)
        if state.status == 'todo' and r.name in earlier:
            row = dict(earlier[r.name], merged_from=_show_path(Path(merge)))
            metric_names += [m for m in row['metrics'] if m not in metric_names]
            rows.append(row)
            continue
        log = read_training_log(r.work_dir)
        result: Dict[str, Any] = {}
        status = state.status
        if state.has_result:
            path = r.work_dir / RESULT_FILE
            try:
                result = json.loads(path.read_text())
                if not isinstance(result, dict):
                    raise ValueError(f'a JSON {type(result).__name__}, not an object')
            except ValueError as e:  # JSONDecodeError is a ValueError
                warnings.warn(f'{_show_path(path)} is malformed ({e}); {r.name} is collected '
                              'without metrics (move the file away and `run` again)')
                result, status = {}, 'invalid-result'
        metrics = result.get('metrics') or {}
        metric_names += [m for m in metrics if m not in metric_names]
        rows.append(dict(
            name=r.name, run=r.spec.name, seed=r.seed, status=status, detail=state.detail,
            config=r.spec.config, cfg_options=r.cfg_options, work_dir=_show_path(r.work_dir),
            family=r.spec.family, arch=r.spec.arch,
            layers=list(r.spec.layers) if r.spec.layers else None,
            ratios=list(r.spec.ratios) if r.spec.ratios else None, notation=r.spec.notation,
            loss=log.get('loss'), epoch=log.get('epoch'), iter=log.get('iter'),
            rec_err=log.get('rec_err', {}), rec_err_trivial=log.get('rec_err_trivial'),
            rec_err_mean_patch=log.get('rec_err_mean_patch'), loss_lines=log.get('loss_lines'),
            metrics=metrics,
            git_commit=result.get('git_commit'), git_dirty=result.get('git_dirty'),
            wall_time_s=result.get('wall_time_s')))
    machine = machine_label()
    others = sorted({r['machine'] for r in rows if r.get('merged_from') and r.get('machine')
                     and r['machine'] != machine})
    if others:  # runs merged from another machine say so in the study's label
        merged = sorted({r['name'].split('/')[-1] for r in rows if r.get('machine') in others})
        machine = f"{machine}; merged runs ({', '.join(merged)}): {'; '.join(others)}"
    results = dict(study=study.name, study_file=str(study.path) if study.path else None,
                   collected_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'), machine=machine,
                   metric_names=metric_names, runs=rows)
    from ..engine.atomic_io import atomic_write_bytes

    study.study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes((json.dumps(results, indent=2) + '\n').encode(),
                       study.study_dir / 'results.json')
    _write_csv(study.study_dir / 'results.csv', rows, metric_names)
    return results


def _write_csv(path: Path, rows: List[Dict[str, Any]], metric_names: List[str]) -> None:
    import io

    from ..engine.atomic_io import atomic_write_bytes

    shots = sorted({k for row in rows for k in row['rec_err']}, key=_shot_key)
    columns = (['name', 'run', 'seed', 'status', 'notation', 'config', 'loss', 'rec_err_trivial']
               + shots
               + metric_names + ['git_commit', 'git_dirty', 'wall_time_s', 'cfg_options',
                                 'work_dir'])
    with io.StringIO(newline='') as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for row in rows:
            flat = {k: row.get(k) for k in columns}
            flat.update(row['rec_err'])
            flat.update(row['metrics'])
            flat['cfg_options'] = ' '.join(f'{k}={v}' for k, v in row['cfg_options'].items())
            writer.writerow(flat)
        atomic_write_bytes(f.getvalue().encode(), path)
