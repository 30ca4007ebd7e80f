"""Collecting a study: every run's work dir into ``<work_root>/<study>/results.{json,csv}``.

* :func:`collect` - per (run, seed) its state, the final training losses
  (:func:`read_training_log`: mmengine's ``<timestamp>/vis_data/scalars.json``) and the metrics of
  its ``result.json``; finished runs of an earlier ``results.json`` can be merged in.
* :func:`machine_label` - where the results were measured.

:func:`cmae_mm.study.report.report` turns the collected results into a table and figures.
"""
import csv
import json
import os
import re
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .common import show_path
from .logs import logged_entries
from .spec import Study
from .state import RESULT_FILE, inspect_run

__all__ = ['collect', 'machine_label', 'read_training_log']


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
                log_dir=show_path(stamp_dir))


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
            row = dict(earlier[r.name], merged_from=show_path(Path(merge)))
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
                warnings.warn(f'{show_path(path)} is malformed ({e}); {r.name} is collected '
                              'without metrics (move the file away and `run` again)')
                result, status = {}, 'invalid-result'
        metrics = result.get('metrics') or {}
        metric_names += [m for m in metrics if m not in metric_names]
        rows.append(dict(
            name=r.name, run=r.spec.name, seed=r.seed, status=status, detail=state.detail,
            config=r.spec.config, cfg_options=r.cfg_options, work_dir=show_path(r.work_dir),
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
