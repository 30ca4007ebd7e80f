"""Markdown table and figures of collected study results (``results.json`` of :func:`collect`).

* ``report.md``: one row per run (mean ± sample std over its seeds, ``no run yet`` without a
  result), plus one control row per control metric (``*_random_init``, ``*_from_scratch``, see
  :data:`cmae_mm.study.evaluations.CONTROLS`), and the paired per-seed differences of every run
  against the study's baseline run and against each control: mean and 95 % t-interval.
* ``accuracy.png``: bar per run (mean, std error bar) with the per-seed values as points, the
  control as a hatched bar.
* ``layers.png`` (studies with shot-layer sweeps, e.g. grid families): the metric against the shot
  layer ``j``, one line per ratio, the one-shot baseline ``L(0; η1)`` dashed (the paper's
  Fig. 2 / Fig. 3).
"""
import json
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .evaluations import CONTROLS, control_of

NO_RUN = 'no run yet'


def _mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def format_mean_std(values: Sequence[float], digits: int = 2) -> str:
    """``mean ± std (n=k)`` (sample std; no ``±`` for a single value), ``no run yet`` if empty.

    Args:
        values: Per-seed values.
        digits: Decimals.

    Returns:
        str: The cell text.
    """
    if not values:
        return NO_RUN
    mean, std = _mean_std(values)
    if std is None:
        return f'{mean:.{digits}f} (n=1)'
    return f'{mean:.{digits}f} ± {std:.{digits}f} (n={len(values)})'


def _groups(runs: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """Runs grouped by run name, in first-seen (study) order."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for row in runs:
        groups.setdefault(row['run'], []).append(row)
    return groups


def _main_metrics(results: Dict[str, Any]) -> List[str]:
    """The accuracy-like metrics of the tables: no controls, no claim measurements (those are
    ``study.py claims``'s, :mod:`cmae_mm.study.claims_report`)."""
    from .claims import is_claim_metric

    return [m for m in results.get('metric_names', [])
            if control_of(m) is None and not is_claim_metric(m)]


def primary_metric(results: Dict[str, Any]) -> Optional[str]:
    """The metric of the figures: ``linear_probe_top1`` if collected, else the first one."""
    names = _main_metrics(results)
    for preferred in ('finetune_top1', 'linear_probe_top1'):
        if preferred in names:
            return preferred
    return names[0] if names else None


def _values(rows: List[Dict[str, Any]], metric: str) -> List[float]:
    return [row['metrics'][metric] for row in rows
            if row.get('metrics', {}).get(metric) is not None]


def _control_values(runs: List[Dict[str, Any]], metric: str, suffix: str) -> Dict[int, float]:
    """Seed -> control value of ``metric + suffix`` (averaged over the runs of that seed)."""
    by_seed: Dict[int, List[float]] = {}
    for row in runs:
        value = row.get('metrics', {}).get(metric + suffix)
        if value is not None:
            by_seed.setdefault(row['seed'], []).append(value)
    return {seed: statistics.fmean(v) for seed, v in sorted(by_seed.items())}


def markdown_table(results: Dict[str, Any]) -> str:
    """The results table: one row per run name, mean ± std over seeds, then the control rows.

    Args:
        results: Collected results (:func:`cmae_mm.study.collecting.collect`).

    Returns:
        str: A GitHub-flavoured markdown table.
    """
    runs = results['runs']
    metrics = _main_metrics(results)
    shots = sorted({k for row in runs for k in row.get('rec_err') or {}})
    header = (['run', 'schedule', 'seeds done'] + metrics
              + ['final loss', 'loss / trivial', 'loss / mean patch'] + shots
              + ['wall time / run (min)'])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, rows in _groups(runs).items():
        done = [r for r in rows if r.get('metrics')]
        cells = [name, rows[0].get('notation') or Path(rows[0]['config']).stem,
                 f'{len(done)}/{len(rows)}']
        cells += [format_mean_std(_values(rows, m)) for m in metrics]
        losses = [r['loss'] for r in done if r.get('loss') is not None]
        cells.append(format_mean_std(losses, 4))
        ratios = [r['loss'] / r['rec_err_trivial'] for r in done
                  if r.get('loss') is not None and r.get('rec_err_trivial')]
        cells.append(format_mean_std(ratios, 3) if ratios else '-')
        ratios = [r['loss'] / r['rec_err_mean_patch'] for r in done
                  if r.get('loss') is not None and r.get('rec_err_mean_patch')]
        cells.append(format_mean_std(ratios, 3) if ratios else '-')
        for shot in shots:  # '-' for a shot the schedule does not have
            errs = [r['rec_err'][shot] for r in done if shot in (r.get('rec_err') or {})]
            cells.append(format_mean_std(errs, 4) if errs or not done else '-')
        times = [r['wall_time_s'] / 60 for r in done if r.get('wall_time_s') is not None]
        cells.append(format_mean_std(times, 1))
        if not done:
            cells = cells[:3] + [NO_RUN] * (len(header) - 3)
        lines.append('| ' + ' | '.join(cells) + ' |')
    for suffix, label in CONTROLS.items():  # one row per control, its value of every metric
        controls = {m: _control_values(runs, m, suffix) for m in metrics}
        if not any(controls.values()):
            continue
        count = max(len(c) for c in controls.values())
        cells = [label, 'no pre-training', f'{count} seed' + ('s' if count > 1 else '')]
        cells += [format_mean_std(list(controls[m].values())) if controls[m] else ''
                  for m in metrics]
        cells += [''] * (len(header) - len(cells))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def paired_interval(diffs: Sequence[float], level: float = 0.95
                    ) -> Tuple[float, Optional[float], Optional[float]]:
    """Mean of paired per-seed differences and its two-sided t-interval.

    Args:
        diffs: One difference per seed (same seed, same labelled subset).
        level: Confidence level.

    Returns:
        Tuple: ``(mean, low, high)``; ``low``/``high`` are None for fewer than 2 seeds.
    """
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, None, None
    half = _t_quantile(len(diffs), level) * statistics.stdev(diffs) / len(diffs)**.5
    return mean, mean - half, mean + half


def sign_flip_p(diffs: Sequence[float]) -> Optional[float]:
    """Exact two-sided paired sign-flip (permutation) p-value of the mean of ``diffs``.

    Every one of the ``2**n`` sign assignments is enumerated; the p-value is the share whose
    absolute mean is at least the observed one. Its floor is ``2 / 2**n``: 0.25 with 3 seeds, so
    with 3 seeds it can never reach 0.05, whatever the effect.

    Args:
        diffs: One paired difference per seed.

    Returns:
        Optional[float]: The p-value; None for no differences.
    """
    from itertools import product

    if not diffs:
        return None
    observed = abs(statistics.fmean(diffs)) - 1e-12
    flips = list(product((1, -1), repeat=len(diffs)))
    hits = sum(abs(statistics.fmean(s * d for s, d in zip(signs, diffs))) >= observed
               for signs in flips)
    return hits / len(flips)


def baseline_run(results: Dict[str, Any]) -> Optional[str]:
    """The run the others are compared with: the first one-shot ``L(0; η)`` run, else the first."""
    groups = _groups(results['runs'])
    for name, rows in groups.items():
        if rows[0].get('layers') == [0]:
            return name
    return next(iter(groups), None)


def paired_table(results: Dict[str, Any], metric: str) -> str:
    """Per-seed paired differences of ``metric``: every run against the baseline run and against
    each control of the same seed (mean, 95 % t-interval, per-seed values).

    Args:
        results: Collected results.
        metric: A main metric.

    Returns:
        str: A markdown table, or ``''`` when nothing can be paired.
    """
    groups = _groups(results['runs'])
    base = baseline_run(results)
    refs = []
    if base is not None:
        refs.append((base, {r['seed']: r['metrics'][metric] for r in groups[base]
                            if r.get('metrics', {}).get(metric) is not None}))
    for suffix, label in CONTROLS.items():
        control = _control_values(results['runs'], metric, suffix)
        if control:
            refs.append((label.split(' (')[0], control))
    lines = ['| run | minus | seeds | mean difference | 95 % interval | excludes 0 | '
             'sign-flip p | per seed |', '|---|---|---|---|---|---|---|---|']
    for name, rows in groups.items():
        values = {r['seed']: r['metrics'][metric] for r in rows
                  if r.get('metrics', {}).get(metric) is not None}
        for ref_name, ref in refs:
            if ref_name == name:
                continue
            seeds = sorted(set(values) & set(ref))
            if not seeds:
                continue
            diffs = [values[k] - ref[k] for k in seeds]
            mean, low, high = paired_interval(diffs)
            interval = '—' if low is None else f'[{low:+.2f}, {high:+.2f}]'
            excludes = '—' if low is None else ('yes' if low > 0 or high < 0 else 'no')
            flip = '—' if low is None else f'{sign_flip_p(diffs):.3g}'
            per_seed = ', '.join(f'{k}: {d:+.2f}' for k, d in zip(seeds, diffs))
            lines.append(f'| {name} | {ref_name} | {len(seeds)} | {mean:+.2f} | {interval} | '
                         f'{excludes} | {flip} | {per_seed} |')
    return '\n'.join(lines) if len(lines) > 2 else ''


def _t_quantile(n: int, level: float = 0.95) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1))


def _bar_figure(results: Dict[str, Any], metric: str, path: Path) -> Path:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = list(_groups(results['runs']).items())
    labels = [name for name, _ in groups]
    per_run = [_values(rows, metric) for _, rows in groups]
    n_runs = len(per_run)
    for suffix, label in CONTROLS.items():
        control = _control_values(results['runs'], metric, suffix)
        if control:
            labels.append(label.replace('the same ', '').replace(' (control)', '\n(control)'))
            per_run.append(list(control.values()))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 3.8))
    every = [v for values in per_run for v in values]
    bottom = max(0.0, (min(every) - 0.15 * (max(every) - min(every)) - 5) // 5 * 5) if every else 0.
    for i, values in enumerate(per_run):
        is_control = i >= n_runs
        if values:
            mean, std = _mean_std(values)
            ax.bar(i, mean, yerr=std or 0, capsize=4, color='0.85' if is_control else f'C{i % 10}',
                   hatch='//' if is_control else None, edgecolor='0.3', alpha=0.8)
            ax.scatter([i] * len(values), values, color='k', s=14, zorder=3)
            ax.text(i + 0.42, mean, f'{mean:.1f}', ha='right', va='bottom', fontsize=7)
        else:
            ax.text(i, bottom, NO_RUN, ha='center', va='bottom', rotation=90, fontsize=8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30 if len(labels) > 4 else 0, ha='right'
                       if len(labels) > 4 else 'center', fontsize=8)
    if every:
        ax.set_ylim(bottom=bottom, top=max(every) + 0.08 * (max(every) - bottom))
    ax.set_ylabel(metric)
    ax.set_title(f'{results["study"]}: {metric} (bars: mean ± std; points: seeds)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _layer_panels(results: Dict[str, Any], metric: str) -> List[Dict[str, Any]]:
    """Panels of metric-vs-shot-layer curves from the runs' schedules.

    One-shot runs ``L(j; η)`` give one panel (a line per ``η``); two-shot runs ``L(0,j; η1,η2)``
    give a panel per ``(arch, η1)`` with a line per ``η2`` and the one-shot ``L(0; η1)``
    baseline.
    """
    points: Dict[Tuple, Dict[Tuple, Dict[int, List[float]]]] = {}
    baselines: Dict[Tuple, List[float]] = {}
    for row in results['runs']:
        layers, ratios = row.get('layers'), row.get('ratios')
        value = row.get('metrics', {}).get(metric)
        if not layers or not ratios or value is None:
            continue
        arch = row.get('arch') or ''
        if len(layers) == 1:
            points.setdefault((arch, 'one-shot', None), {}).setdefault(
                (ratios[0], ), {}).setdefault(layers[0], []).append(value)
            if layers[0] == 0:
                baselines.setdefault((arch, ratios[0]), []).append(value)
        elif len(layers) == 2 and layers[0] == 0:
            points.setdefault((arch, 'two-shot', ratios[0]), {}).setdefault(
                (ratios[1], ), {}).setdefault(layers[1], []).append(value)
    panels = []
    for (arch, kind, eta1), lines in points.items():
        if max(len(xs) for xs in lines.values()) < 2:
            continue  # no sweep over the layer
        panels.append(dict(arch=arch, kind=kind, eta1=eta1, lines=lines,
                           baseline=baselines.get((arch, eta1)) if kind == 'two-shot' else None))
    return panels


def _layer_figure(results: Dict[str, Any], metric: str, path: Path) -> Optional[Path]:
    panels = _layer_panels(results, metric)
    if not panels:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for k, ((ratio, ), by_layer) in enumerate(sorted(panel['lines'].items())):
            xs = sorted(by_layer)
            means = [statistics.fmean(by_layer[x]) for x in xs]
            label = f'η={ratio:g}' if panel['kind'] == 'one-shot' else f'η2={ratio:g}'
            ax.plot(xs, means, marker='o', color=f'C{k % 10}', label=label)
        if panel['baseline']:
            ax.axhline(statistics.fmean(panel['baseline']), color='k', linestyle='--',
                       label=f'L(0; {panel["eta1"]:g})')
        title = ('L(j; η)' if panel['kind'] == 'one-shot'
                 else f'L(0,j; {panel["eta1"]:g},η2)')
        ax.set_title(f'{panel["arch"]} {title}'.strip(), fontsize=9)
        ax.set_xlabel('shot layer j')
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(results: Union[Dict[str, Any], str, Path], out_dir: Union[str, Path],
           metric: Optional[str] = None) -> Dict[str, Path]:
    """Write the markdown report and the figures of collected results.

    Args:
        results: The collected results, or the path of ``results.json``.
        out_dir: Output folder (created).
        metric: Metric of the figures; default :func:`primary_metric`.

    Returns:
        Dict[str, Path]: ``markdown``, and ``accuracy_png`` / ``layers_png`` when drawn.
    """
    if not isinstance(results, dict):
        results = json.loads(Path(results).read_text())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metric = metric or primary_metric(results)
    written: Dict[str, Path] = {}
    figures = []
    if metric is not None:
        written['accuracy_png'] = _bar_figure(results, metric, out_dir / 'accuracy.png')
        figures.append(written['accuracy_png'])
        layers = _layer_figure(results, metric, out_dir / 'layers.png')
        if layers is not None:
            written['layers_png'] = layers
            figures.append(layers)
    commits = sorted({f'{r["git_commit"][:10]}{" (dirty)" if r.get("git_dirty") else ""}'
                      for r in results['runs'] if r.get('git_commit')})
    text = [f'# Study `{results["study"]}`', '',
            f'Collected {results.get("collected_at", "")}, reported '
            f'{time.strftime("%Y-%m-%dT%H:%M:%S%z")}; mean ± sample std over seeds.',
            f'Commits: {", ".join(commits) if commits else "none yet"}.',
            ('Final loss: the mean of the lines logged in the last pre-training epoch; '
             if any(r.get('loss_lines') for r in results['runs']) else
             'Final loss: the last logged line of pre-training (collected before losses were '
             'averaged over the last epoch); ')
            + '`loss / trivial`: its ratio to predicting zero (the dataset mean) for every removed '
            'patch; `loss / mean patch`: its ratio to predicting the training images\' mean patch '
            'at each position (1.0 = nothing learnt beyond it).', '',
            markdown_table(results), '']
    for name in _main_metrics(results):
        paired = paired_table(results, name)
        if paired:
            seeds = len({r['seed'] for r in results['runs']
                         if r.get('metrics', {}).get(name) is not None})
            if seeds > 1:
                width = (f'95 % t-interval over seeds, n-1 degrees of freedom: with {seeds} seeds '
                         f'the interval is ±{_t_quantile(seeds):.2f} standard errors wide; exact '
                         f'sign-flip p-value, whose floor with n seeds is 2/2^n: '
                         f'{2 / 2 ** seeds:.3g} here')
            else:
                width = 'one seed: no interval and no p-value, a single paired difference'
            text += [f'Paired per-seed differences of `{name}` (percentage points; {width}).', '',
                     paired, '']
    text += [f'![{p.stem}]({p.name})' for p in figures]
    written['markdown'] = out_dir / 'report.md'
    written['markdown'].write_text('\n'.join(text) + '\n')
    return written


def _paired(results: Dict[str, Any], run: str, ref: Optional[str], metric: str,
            suffix: Optional[str] = None) -> Dict[int, float]:
    """Seed -> ``run``'s metric minus the reference's (another run, or a control ``suffix``)."""
    groups = _groups(results['runs'])
    values = {r['seed']: r['metrics'][metric] for r in groups.get(run, [])
              if r.get('metrics', {}).get(metric) is not None}
    if suffix is not None:
        other = _control_values(results['runs'], metric, suffix)
    else:
        other = {r['seed']: r['metrics'][metric] for r in groups.get(ref, [])
                 if r.get('metrics', {}).get(metric) is not None}
    return {k: values[k] - other[k] for k in sorted(set(values) & set(other))}


def length_report(results_by_length: Dict[int, Union[Dict[str, Any], str, Path]],
                  out_dir: Union[str, Path], metric: str = 'finetune_top1',
                  run: str = 'cmae', baseline: str = 'mae') -> Dict[str, Path]:
    """Compare studies that differ only in pre-training length (the paper's Fig. 8 question).

    Writes ``length.md`` (per length: each run's mean ± std, the paired ``run - baseline``
    difference with its 95 % t-interval and sign-flip p, and each control and baseline without a
    network) and ``length.png`` (left: accuracy against pre-training epochs, one line per run with
    a ±std band, references dashed; right: the paired difference with its interval).

    Args:
        results_by_length: Pre-training epochs -> collected results (or their ``results.json``).
        out_dir: Output folder.
        metric: The metric compared.
        run: The treatment run's name.
        baseline: The run it is paired with.

    Returns:
        Dict[str, Path]: ``markdown`` and ``png``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    loaded = {int(k): v if isinstance(v, dict) else json.loads(Path(v).read_text())
              for k, v in sorted(results_by_length.items())}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'# `{metric}` against pre-training length', '',
             f'Paired per-seed differences `{run}` − `{baseline}` and against each reference, '
             'percentage points, 95 % t-interval over seeds (n−1 degrees of freedom) and exact '
             'sign-flip p-value (floor 2/2^n).', '',
             '| pre-training epochs | study | compared | minus | seeds | mean ± std | '
             'mean difference | 95 % interval | sign-flip p |', '|---|---|---|---|---|---|---|---|---|']
    curves: Dict[str, Dict[int, List[float]]] = {}
    diffs_by_length: Dict[int, Dict[int, float]] = {}
    for epochs, results in loaded.items():
        groups = _groups(results['runs'])
        refs = [(baseline, None)] + [(label.split(' (')[0], suffix)
                                     for suffix, label in CONTROLS.items()
                                     if _control_values(results['runs'], metric, suffix)]
        for name in (baseline, run):
            values = _values(groups.get(name, []), metric)
            curves.setdefault(name, {})[epochs] = values
        for suffix, label in CONTROLS.items():
            control = _control_values(results['runs'], metric, suffix)
            if control:
                curves.setdefault(label.split(' (')[0], {})[epochs] = list(control.values())
        for name in (run, baseline):
            for ref_name, suffix in refs:
                if ref_name == name:
                    continue
                paired = _paired(results, name, ref_name, metric, suffix)
                if not paired:
                    continue
                if name == run and suffix is None:
                    diffs_by_length[epochs] = paired
                mean, low, high = paired_interval(list(paired.values()))
                interval = '—' if low is None else f'[{low:+.2f}, {high:+.2f}]'
                flip = '—' if low is None else f'{sign_flip_p(list(paired.values())):.3g}'
                lines.append(f'| {epochs} | {results["study"]} | {name} | {ref_name} | '
                             f'{len(paired)} | {format_mean_std(_values(groups.get(name, []), metric))} | '
                             f'{mean:+.2f} | {interval} | {flip} |')
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, (name, by_length) in enumerate(curves.items()):
        xs = [x for x in sorted(by_length) if by_length[x]]
        if not xs:
            continue
        means = [statistics.fmean(by_length[x]) for x in xs]
        stds = [statistics.stdev(by_length[x]) if len(by_length[x]) > 1 else 0. for x in xs]
        reference = name not in (run, baseline)
        ax.plot(xs, means, marker='o', linestyle='--' if reference else '-',
                color=f'C{k % 10}', label=name)
        ax.fill_between(xs, [m - s for m, s in zip(means, stds)],
                        [m + s for m, s in zip(means, stds)], color=f'C{k % 10}', alpha=0.15)
    ax.set_xlabel('pre-training epochs')
    ax.set_ylabel(metric)
    ax.legend(fontsize=6)
    ax.set_title('mean ± std over seeds (references dashed)', fontsize=9)
    for x, paired in diffs_by_length.items():
        mean, low, high = paired_interval(list(paired.values()))
        err = None if low is None else [[mean - low], [high - mean]]
        bx.errorbar([x], [mean], yerr=err, marker='o', color='C3', capsize=4)
        bx.scatter([x] * len(paired), list(paired.values()), color='k', s=10, zorder=3)
    bx.axhline(0, color='0.5', linewidth=0.8)
    bx.set_xlabel('pre-training epochs')
    bx.set_ylabel(f'{run} − {baseline} (pp)')
    bx.set_title('paired difference, 95 % t-interval; points: seeds', fontsize=9)
    if loaded:
        bx.set_xlim(min(loaded) - 2, max(loaded) + 2)
    fig.tight_layout()
    written = {'png': out_dir / 'length.png', 'markdown': out_dir / 'length.md'}
    fig.savefig(written['png'], dpi=120)
    plt.close(fig)
    written['markdown'].write_text('\n'.join(lines) + f'\n\n![length]({written["png"].name})\n')
    return written
