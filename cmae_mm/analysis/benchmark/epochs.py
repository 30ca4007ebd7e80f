"""Training epochs through ``tools/train.py``, default against compiled, measured interleaved.

Each measurement is a fresh ``tools/train.py CONFIG`` process (``--compile`` for the compiled
variant) that trains ``epochs`` epochs into its own temporary work dir, with mmengine's logger at
every iteration (``default_hooks.logger.interval=1``, ``log_processor.window_size=1``), so the
``time`` of each logged iteration is that iteration's wall time (``IterTimerHook``: data loading,
forward, backward, optimizer step and hooks). Variants alternate round by round (order rotated),
so both see the same machine load; the ratio compiled / default is the median of the per-round
ratios.

From the per-iteration times ``t_i`` of one run:

* ``epoch_s``: the mean over epochs of the sum of ``t_i`` per epoch, compile time excluded;
* ``compile_s``: (median over rounds) the time above the run's median iteration time spent in iterations at least
  3x the median (the first iteration, and a recompilation when the last batch of an epoch is
  smaller), i.e. what compiling added; the default variant's value (its first-iteration warm-up)
  is reported too. The measurement gets its own empty inductor cache
  (``TORCHINDUCTOR_CACHE_DIR``): the first round compiles cold (``compile_cold_s``), later rounds
  find the kernels on disk, as a user's second run on the same machine does;
* ``process_s``: the process's wall time (interpreter start, imports, dataset loading, model
  building, every epoch, compile and the final checkpoint).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .timing import round_order

__all__ = ['EPOCH_VARIANTS', 'iteration_times', 'measure_epochs', 'summarise_times']

#: Variant name -> extra ``tools/train.py`` arguments.
EPOCH_VARIANTS = {'default': [], 'compiled': ['--compile']}
#: An iteration this many times the run's median counts as compiling.
SLOW_FACTOR = 3.0


def iteration_times(work_dir: Path) -> List[Dict[str, float]]:
    """``epoch``, ``iter`` and ``time`` of every logged training iteration of a work dir's newest
    launch (``<stamp>/vis_data/scalars.json``)."""
    stamps = sorted(p for p in Path(work_dir).iterdir() if (p / 'vis_data').is_dir())
    if not stamps:
        raise FileNotFoundError(f'no mmengine launch folder with vis_data in {work_dir}')
    rows = []
    for line in (stamps[-1] / 'vis_data' / 'scalars.json').read_text().splitlines():
        entry = json.loads(line)
        if 'time' in entry and 'loss' in entry:
            rows.append(dict(epoch=entry.get('epoch', 1), iter=entry['iter'], time=entry['time']))
    return rows


def summarise_times(rows: List[Dict[str, float]]) -> Dict[str, float]:
    """Per-epoch time without compilation, compile time and the median iteration of one run.

    Args:
        rows: :func:`iteration_times` of the run.

    Returns:
        dict: ``epoch_s``, ``compile_s``, ``median_iter_s``, ``iterations`` and ``epochs``.
    """
    times = [r['time'] for r in rows]
    if not times:
        raise ValueError('the run logged no training iteration')
    median = statistics.median(times)
    compile_s = sum(t - median for t in times if t >= SLOW_FACTOR * median)
    epochs = sorted({r['epoch'] for r in rows})
    return dict(epoch_s=(sum(times) - compile_s) / len(epochs), compile_s=compile_s,
                median_iter_s=median, iterations=len(times), epochs=len(epochs))


def _train(python: str, repo: Path, config: str, options: Sequence[str], args: Sequence[str],
           work_dir: Path, threads: int, cache_dir: Path) -> Dict[str, float]:
    """One ``tools/train.py`` process; its summary and wall time."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               TORCHINDUCTOR_CACHE_DIR=str(cache_dir))
    cmd = [python, 'tools/train.py', config, '--work-dir', str(work_dir), *args,
           '--cfg-options', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
           *options]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
    summary = summarise_times(iteration_times(work_dir))
    summary['process_s'] = wall
    return summary


def measure_epochs(jobs: Dict[str, Dict], rounds: int = 5, threads: int = 1,
                   repo: Optional[Path] = None, python: Optional[str] = None,
                   log=print) -> Dict[str, Dict]:
    """Time every job's epochs in both variants, interleaved over rounds.

    Args:
        jobs: Name -> ``dict(config=..., options=[--cfg-options items])``.
        rounds: Rounds; each runs every job in both variants (order rotated per round).
        threads: ``OMP_NUM_THREADS`` of the training processes.
        repo: The repository root (``tools/train.py`` is run from there).
        python: The interpreter (default: this one).
        log: Progress printer.

    Returns:
        dict: Per job: ``runs`` {variant: [summary per round]}, medians per variant
        (``epoch_s``, ``compile_s``, ``process_s``, ``median_iter_s``) and ``ratio`` (compiled /
        default epoch time, median of per-round ratios) and ``speedup`` (its inverse).
    """
    repo = Path(repo or Path(__file__).resolve().parents[3])
    python = python or sys.executable
    runs = {job: {v: [] for v in EPOCH_VARIANTS} for job in jobs}
    order = [(job, v) for job in jobs for v in EPOCH_VARIANTS]
    with tempfile.TemporaryDirectory(prefix='epoch_bench_') as tmp:
        for r in range(rounds):
            for job, variant in round_order(order, r):
                work_dir = Path(tmp) / f'{job}_{variant}_{r}'
                summary = _train(python, repo, jobs[job]['config'], jobs[job].get('options', []),
                                 EPOCH_VARIANTS[variant], work_dir, threads,
                                 Path(tmp) / 'inductor_cache')
                runs[job][variant].append(summary)
                log(f'round {r + 1}/{rounds} {job} {variant}: epoch {summary["epoch_s"]:.1f} s, '
                    f'compile {summary["compile_s"]:.1f} s, process {summary["process_s"]:.1f} s')
    results = {}
    for job, by_variant in runs.items():
        row: Dict = dict(config=jobs[job]['config'], options=list(jobs[job].get('options', [])),
                         runs=by_variant)
        for variant, summaries in by_variant.items():
            row[variant] = {key: statistics.median(s[key] for s in summaries)
                            for key in ('epoch_s', 'compile_s', 'process_s', 'median_iter_s')}
        # round 1 compiled with the empty inductor cache of this measurement, later rounds
        # found its kernels on disk (what a user's second run on the same machine sees)
        row['compiled']['compile_cold_s'] = by_variant['compiled'][0]['compile_s']
        row['ratio'] = statistics.median(
            c['epoch_s'] / d['epoch_s']
            for c, d in zip(by_variant['compiled'], by_variant['default']))
        row['speedup'] = 1 / row['ratio']
        results[job] = row
    return results


def epochs_table(results: Dict[str, Dict]) -> str:
    """The results of :func:`measure_epochs` as a markdown table."""
    lines = ['| job | default epoch s | compiled epoch s | compiled / default | speed-up '
             '| compile s (cold cache) | compile s (warm) | default process s '
             '| compiled process s |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    for job, r in results.items():
        d, c = r['default'], r['compiled']
        lines.append(f"| {job} | {d['epoch_s']:.1f} | {c['epoch_s']:.1f} | {r['ratio']:.3f} "
                     f"| {r['speedup']:.2f}x | {c['compile_cold_s']:.1f} | {c['compile_s']:.1f} "
                     f"| {d['process_s']:.1f} "
                     f"| {c['process_s']:.1f} |")
    return '\n'.join(lines)
