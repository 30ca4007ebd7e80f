"""Running a study: pre-training each unfinished run with the repo's tools, then evaluating it.

* :func:`run` - launches every unfinished run in a subprocess through ``tools/train.py``
  (``local``), ``tools/dist_train.sh`` (``dist``) or ``tools/slurm_train.sh`` (``slurm``), resuming
  runs that have a checkpoint, then runs the study's evaluations and writes
  ``<work_dir>/result.json``. Finished runs are skipped (or given only the evaluations added to
  the study since); an existing ``result.json`` is never overwritten. It holds the study's lock
  (:mod:`cmae_mm.study.locking`) and reads each run's state with :mod:`cmae_mm.study.state`.
* :func:`train_command` - the command that pre-trains one run.
* :func:`evaluate_run`, :func:`added_evaluations`, :func:`compute_controls` - the study's
  evaluations on a run's checkpoint, and their controls ahead of the runs.
* :func:`prepare_data` - the study's ``prepare`` datasets.

Subprocesses and evaluations run in the repository root, so relative paths in a study (configs,
data roots in ``cfg_options``) mean the same for the training tools and for the evaluations.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .common import REPO_ROOT, repo_path, show_path
from .locking import study_lock
from .spec import Study, StudyRun
from .state import RESULT_FILE, _run_config, inspect_run

__all__ = ['STUDY_LAUNCHERS', 'TRAIN_LOG', 'added_evaluations', 'compute_controls',
           'evaluate_run', 'git_state', 'prepare_data', 'run', 'train_command']

STUDY_LAUNCHERS = ('local', 'dist', 'slurm')
TRAIN_LOG = 'study_train.log'


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
    from .registry import EVALUATIONS

    cfg = _run_config(run)
    metrics: Dict[str, float] = {}
    with _in_repo_root():
        for name, options in (study.evaluations if evaluations is None else evaluations):
            metrics.update(EVALUATIONS[name](cfg, checkpoint, run.seed, **options))
    return metrics


def added_evaluations(study: Study, result: Dict[str, Any]
                      ) -> List[Tuple[str, Dict[str, Any]]]:
    """The study's evaluations that a run's ``result.json`` does not hold yet.

    An evaluation added to a study file after its runs were evaluated is run on them by the next
    ``run``; an evaluation already in ``result.json`` is never re-run, even if its options
    changed (move the ``result.json`` away to re-evaluate everything). One exception keeps the
    recorded numbers and adds to them: an evaluation with controls (``study.py controls``) whose
    options changed since it was recorded (say ``finetune``'s ``from_scratch`` switched on) is
    returned with ``controls_only=True``, so only its controls run and only metrics the result
    lacks are added (:func:`_add_evaluations` never replaces a recorded metric). A
    ``result.json`` that does not record its evaluations (written by hand or by an older runner)
    counts as complete.
    """
    from .registry import CONTROL_EVALUATIONS

    if 'evaluations' not in result:
        return []
    recorded: Dict[str, Dict[str, Any]] = {}
    for entry in result.get('evaluations') or []:  # the last entry of a name is its options now
        recorded[entry.get('name')] = {k: v for k, v in entry.items()
                                       if k not in ('name', 'controls_only')}
    pending = []
    for name, options in study.evaluations:
        if name not in recorded:
            pending.append((name, options))
        elif name in CONTROL_EVALUATIONS and recorded[name] != options:
            pending.append((name, {**options, 'controls_only': True}))
    return pending


def _add_evaluations(r: StudyRun, result: Dict[str, Any],
                     pending: List[Tuple[str, Dict[str, Any]]], study: Study) -> Dict[str, Any]:
    """Run ``pending`` on a finished run and rewrite its ``result.json`` (atomically) with the
    new metrics, the evaluations appended and their time in ``added_evaluations``."""
    from ..engine.atomic_io import atomic_write_bytes

    t0 = time.time()
    metrics = evaluate_run(study, r, repo_path(result['checkpoint']), pending)
    updated = dict(result)
    updated['metrics'] = {**metrics, **result.get('metrics', {})}  # a recorded metric stays
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
    from .registry import CONTROL_EVALUATIONS, EVALUATIONS

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
                out(f'{head} done, skipped ({show_path(r.work_dir / RESULT_FILE)})')
                continue
            names = ', '.join(n + (' (its controls only)' if o.get('controls_only') else '')
                              for n, o in pending)
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
                out(f'FAILED ({why}); log: {show_path(log)}\n{_tail(log)}')
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
            cfg_options=r.cfg_options, notation=r.spec.notation, work_dir=show_path(r.work_dir),
            checkpoint=show_path(state.final_checkpoint), metrics=metrics,
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
