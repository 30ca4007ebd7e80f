"""The paper's claims, measured on a study's trained runs: ``study.py claims STUDY --out-dir DIR``.

Reads the study's collected ``results.json`` (the metrics of :mod:`cmae_mm.study.claims`) and,
where the runs' work dirs are on this machine, their CKA matrices (``<run>/claims/cka.json``) and
per-shot training losses (mmengine's ``scalars.json``). Writes into ``DIR``:

* ``claims.json``: everything the report and the figures are made of (it is enough to redraw
  them: :func:`write_claims` reads it back when the work dirs are gone);
* ``report.md``: one table, claim by claim: the paper's statement with its figure or table, what
  the study measured (paired CMAE - MAE difference over seeds with its 95 % t-interval and the
  exact sign-flip p-value), and a verdict (:func:`verdict`);
* ``attention.png``, ``cka.png``, ``robustness.png``, ``loss_curves.png``.

Every comparison pairs a run with the study's one-shot MAE run (:func:`~cmae_mm.study.report.
baseline_run`) of the same seed.
"""
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .claims import OCCLUSION_RATIOS, is_claim_metric
from .report import paired_interval, sign_flip_p

#: Blocks read as "low and middle" (Fig. 5 compares them) and "high" in a 12-block encoder.
LOW_MIDDLE = tuple(range(0, 8))
HIGH = (10, 11)
#: Accuracy metrics kept beside the claims, for the table of the shot's ratio (Fig. 3).
ACCURACY_METRICS = ('finetune_top1', 'linear_probe_top1')
#: Loss keys of the shots, as the head logs them.
SHOT_KEYS = ('rec_err_shot1', 'rec_err_shot2')


def verdict(diffs: Sequence[float], expected: int) -> str:
    """``supported`` / ``contradicted`` / ``not resolved`` from paired differences.

    Args:
        diffs: Per-seed paired differences (CMAE - MAE, or shot 2 - shot 1).
        expected: The sign the paper's claim predicts (+1 or -1).

    Returns:
        str: ``supported`` if the 95 % interval excludes zero on the predicted side,
        ``contradicted`` if it excludes zero on the other side, else ``not resolved at this
        scale`` (``not measured`` without differences, ``one seed: not resolved`` with one).
    """
    if not diffs:
        return 'not measured'
    mean, low, high = paired_interval(diffs)
    if low is None:
        return 'one seed: not resolved'
    if low > 0 or high < 0:
        return 'supported' if (mean > 0) == (expected > 0) else 'contradicted'
    return 'not resolved at this scale'


def _stats(diffs: Sequence[float], digits: int = 3) -> str:
    """``mean [low, high], p=…, n=k`` of paired differences."""
    if not diffs:
        return 'no paired seeds'
    mean, low, high = paired_interval(diffs)
    if low is None:
        return f'{mean:+.{digits}f} (n=1)'
    p = sign_flip_p(diffs)
    return f'{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}], p={p:.2f}, n={len(diffs)}'


def _curve_summary(series: List[Tuple[int, float]], epoch_iters: Optional[int]) -> Dict[str, float]:
    """First logged value, final value (mean of the last epoch's lines) and relative drop."""
    first = series[0][1]
    last_step = series[-1][0]
    window = epoch_iters or max(1, last_step // 10)
    tail = [v for s, v in series if s > last_step - window] or [series[-1][1]]
    final = statistics.fmean(tail)
    return dict(first=first, final=final, drop=(first - final) / first)


def _downsample(series: List[Tuple[int, float]], points: int = 200) -> List[List[float]]:
    step = max(1, len(series) // points)
    return [[s, round(v, 6)] for s, v in series[::step]]


def _run_artifacts(work_dir: Path) -> Dict[str, Any]:
    """CKA matrices and per-shot loss curves of a run's work dir (what exists of them)."""
    from ..analysis.loss_curves import read_scalars

    out: Dict[str, Any] = {}
    cka_file = work_dir / 'claims' / 'cka.json'
    if cka_file.is_file():
        record = json.loads(cka_file.read_text())
        out['cka'] = {k: record[k] for k in ('self', 'cross', 'reference') if k in record}
    try:
        series = read_scalars(str(work_dir))
    except FileNotFoundError:
        return out
    curves = {k: series[k] for k in SHOT_KEYS if k in series}
    if curves:
        out['curves'] = {k: _downsample(v) for k, v in curves.items()}
        out['curve_summary'] = {k: _curve_summary(v, None) for k, v in curves.items()}
    return out


def gather(results: Dict[str, Any], study_dir: Optional[Path] = None) -> Dict[str, Any]:
    """The claims record of a study: per run its claim metrics and (from ``study_dir``) artifacts.

    Args:
        results: The study's collected ``results.json``.
        study_dir: ``<work_root>/<study>``; runs found there add their CKA matrices and loss
            curves.

    Returns:
        Dict[str, Any]: ``study``, ``baseline`` and ``runs`` (``run``, ``seed``, ``notation``,
        ``layers``, ``ratios`` (the schedule), ``metrics``, ``accuracy``, and ``cka`` /
        ``curves`` / ``curve_summary`` where available).
    """
    from .report import baseline_run

    runs = []
    for row in results.get('runs', []):
        metrics = row.get('metrics') or {}
        entry = dict(run=row['run'], seed=row['seed'], notation=row.get('notation'),
                     layers=row.get('layers'), ratios=row.get('ratios'),
                     metrics={k: v for k, v in metrics.items() if is_claim_metric(k)},
                     accuracy={k: metrics[k] for k in ACCURACY_METRICS if k in metrics})
        if study_dir is not None:
            entry.update(_run_artifacts(Path(study_dir) / f"{row['run']}_seed{row['seed']}"))
        runs.append(entry)
    return dict(study=results.get('study'), baseline=baseline_run(results), runs=runs)


def _by_seed(claims: Dict[str, Any], run: str) -> Dict[int, Dict[str, Any]]:
    return {r['seed']: r for r in claims['runs'] if r['run'] == run}


def _paired_metric(claims: Dict[str, Any], run: str, metric) -> List[float]:
    """Per paired seed, ``metric(run's entry) - metric(baseline's entry)`` (None skips a seed)."""
    base, other = _by_seed(claims, claims['baseline']), _by_seed(claims, run)
    diffs = []
    for seed in sorted(set(base) & set(other)):
        a, b = metric(other[seed]), metric(base[seed])
        if a is not None and b is not None:
            diffs.append(a - b)
    return diffs


def _mean_of(keys: Sequence[str]):
    def get(entry: Dict[str, Any]) -> Optional[float]:
        values = [entry['metrics'].get(k) for k in keys]
        return None if any(v is None for v in values) else statistics.fmean(values)
    return get


def _drop(key: str):
    def get(entry: Dict[str, Any]) -> Optional[float]:
        m = entry['metrics']
        return None if key not in m or 'robust_clean' not in m else m['robust_clean'] - m[key]
    return get


def _cka_discrepancy(entry: Dict[str, Any]) -> Optional[float]:
    """Growth of 1 - CKA(own block l, MAE block l) from the first 3 to the last 3 blocks."""
    diag = [v for k, v in sorted(entry['metrics'].items()) if k.startswith('cka_')]
    if len(diag) < 6:
        return None
    return statistics.fmean(1 - v for v in diag[-3:]) - statistics.fmean(1 - v for v in diag[:3])


def _shot_speed(entry: Dict[str, Any]) -> Optional[float]:
    summary = entry.get('curve_summary') or {}
    if not all(k in summary for k in SHOT_KEYS):
        return None
    return summary['rec_err_shot2']['drop'] - summary['rec_err_shot1']['drop']


def _rows(claims: Dict[str, Any], run: str) -> List[Tuple[str, str, List[float], int]]:
    """``(claim, what is measured, per-seed differences, predicted sign)`` of each table row."""
    def blocks(kind: str, stage: str, which: Sequence[int]) -> List[str]:
        return [f'attn_{kind}_{stage}_b{b:02d}' for b in which]

    rows = []
    for stage, name in (('pt', 'pre-trained'), ('ft', 'fine-tuned')):
        for kind in ('distance', 'entropy'):
            rows.append((f'Locality (Fig. 5): lower attention {kind} than MAE in the low and '
                         f'middle blocks, {name}',
                         f'mean attention {kind} over blocks 0-7, CMAE - MAE',
                         _paired_metric(claims, run, _mean_of(blocks(kind, stage, LOW_MIDDLE))),
                         -1))
        rows.append((f'Locality (Fig. 5): similar attention distance in the high blocks, {name}',
                     'mean attention distance over blocks 10-11, CMAE - MAE (the claim predicts '
                     'an interval around 0)',
                     _paired_metric(claims, run, _mean_of(blocks('distance', stage, HIGH))), 0))
    rows.append(('Representations (Fig. 4): the CKA between CMAE and MAE blocks falls with depth',
                 '(1 - CKA) over the last 3 representations minus over the first 3, CMAE vs MAE '
                 'of the same seed',
                 [v for v in (_cka_discrepancy(e) for e in _by_seed(claims, run).values())
                  if v is not None], +1))
    rows.append(('Information flow (Fig. 6): second-masked patches send their information to '
                 'their neighbours just before being masked',
                 'share of a second-masked token\'s outgoing attention received by its 8 '
                 'neighbours, block 9, CMAE - MAE at the same tokens',
                 _paired_metric(claims, run, lambda e: e['metrics'].get('revattn_neighbour_share')),
                 +1))
    rows.append(('Optimisation (Fig. 7): the second shot\'s loss falls faster than the first\'s',
                 'relative drop of the shot-2 loss minus that of the shot-1 loss, first logged '
                 'window to the mean of the last 10 % of iterations (CMAE runs)',
                 [v for v in (_shot_speed(e) for e in _by_seed(claims, run).values())
                  if v is not None], +1))
    occl = [f'robust_occlusion_{round(100 * r):02d}' for r in OCCLUSION_RATIOS]
    rows.append(('Robustness (Tab. 9): the fine-tuned model loses less accuracy than MAE\'s '
                 'under occlusion',
                 'top-1 drop (clean - occluded), mean over 10/30/50/70/90 % of the patches, '
                 'CMAE - MAE (points)',
                 _paired_metric(claims, run, lambda e: None if any(
                     _drop(k)(e) is None for k in occl) else statistics.fmean(
                         _drop(k)(e) for k in occl)), -1))
    rows.append(('Robustness (Tab. 9): ... and under patch shuffling',
                 'top-1 drop (clean - shuffled), CMAE - MAE (points)',
                 _paired_metric(claims, run, _drop('robust_shuffle')), -1))
    return rows


def _verdict_row(diffs: List[float], expected: int) -> str:
    if expected == 0:  # "similar": supported when the interval holds 0
        v = verdict(diffs, +1)
        return {'supported': 'contradicted (differs)', 'contradicted': 'contradicted (differs)',
                'not resolved at this scale': 'consistent (interval holds 0)'}.get(v, v)
    return verdict(diffs, expected)


def markdown(claims: Dict[str, Any], recipe: str = '') -> str:
    """``report.md``: the claim table for every non-baseline run, then per-level tables."""
    base = claims['baseline']
    others = _measured(claims)[1:]
    lines = [f"# The paper's claims, measured: study {claims['study']}", '',
             'Conditional MAE (arXiv 2402.06090v1) claims that the second shot changes what the '
             'encoder learns. Each row pairs a run with the one-shot MAE run '
             f'(`{base}`) of the same seed: mean paired difference [95 % t-interval], exact '
             'sign-flip p-value (its floor is 0.25 with 3 seeds), number of seeds. Verdict: '
             '*supported* if the interval excludes 0 on the side the paper predicts, '
             '*contradicted* if it excludes 0 on the other side, else *not resolved at this '
             'scale*.', '']
    if recipe:
        lines += [recipe, '']
    for run in others:
        notation = next(r['notation'] for r in claims['runs'] if r['run'] == run)
        lines += [f'## `{run}` {notation} vs `{base}`', '',
                  '| claim (paper) | measured | CMAE - MAE | verdict |', '|---|---|---|---|']
        for claim, what, diffs, expected in _rows(claims, run):
            lines.append(f'| {claim} | {what} | {_stats(diffs)} | '
                         f'{_verdict_row(diffs, expected)} |')
        lines += ['', _robustness_table(claims, run), '', _layer_table(claims, run), '']
    lines += [_ratio_table(claims), '']
    lines += ['Figures: `attention.png` (per block, mean ± std over seeds), `cka.png` (mean '
              'cross-CKA matrix and its diagonal), `robustness.png` (top-1 against the occluded '
              'share), `loss_curves.png` (per-shot losses of the two-shot runs), `ratio.png` '
              "(top-1 against the second shot's ratio, MAE dashed, as Fig. 3).", '']
    return '\n'.join(lines)


def _measured(claims: Dict[str, Any]) -> List[str]:
    """The baseline, then the other runs with at least one claim metric, in study order."""
    names = [claims['baseline']]
    for r in claims['runs']:
        if r['run'] not in names and r['metrics']:
            names.append(r['run'])
    return names


def _ratio_table(claims: Dict[str, Any]) -> str:
    """Fig. 3's question: test top-1 of every run (schedule), and its paired difference to MAE."""
    base = claims['baseline']
    names = list(dict.fromkeys(r['run'] for r in claims['runs']))
    lines = ["## The second shot's ratio (Fig. 3) and the other schedules", '',
             'Test top-1 (%) of every run of the study, mean ± std over seeds, and its paired '
             f'difference to `{base}`:', '',
             '| run | schedule | fine-tune top-1 | minus MAE | linear probe top-1 | minus MAE |',
             '|---|---|---|---|---|---|']
    for name in names:
        runs = list(_by_seed(claims, name).values())
        notation = runs[0].get('notation') or ''
        cells = []
        for metric in ACCURACY_METRICS:
            values = [e['accuracy'][metric] for e in runs if metric in e.get('accuracy', {})]
            cells.append(_mean_std(values) if values else 'no run yet')
            diffs = [] if name == base else _paired_metric(
                claims, name, lambda e, m=metric: e.get('accuracy', {}).get(m))
            cells.append(_stats(diffs, 2) if diffs else '—')
        lines.append(f'| `{name}` | {notation} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _robustness_table(claims: Dict[str, Any], run: str) -> str:
    keys = ['robust_clean'] + [f'robust_occlusion_{round(100 * r):02d}'
                               for r in OCCLUSION_RATIOS] + ['robust_shuffle']
    base = claims['baseline']
    lines = ['Robustness, top-1 (%) on the 10,000 test images, mean ± std over seeds:', '',
             '| perturbation | ' + f'`{base}` | `{run}` | {run} - {base} |', '|---|---|---|---|']
    for key in keys:
        cells = []
        for name in (base, run):
            values = [e['metrics'][key] for e in _by_seed(claims, name).values()
                      if key in e['metrics']]
            cells.append(_mean_std(values))
        diffs = _paired_metric(claims, run, lambda e, k=key: e['metrics'].get(k))
        label = key.replace('robust_', '').replace('occlusion_', 'occlusion ') + (
            ' %' if 'occlusion' in key else '')
        lines.append(f'| {label} | {cells[0]} | {cells[1]} | {_stats(diffs, 2)} |')
    return '\n'.join(lines)


def _layer_table(claims: Dict[str, Any], run: str) -> str:
    lines = ['Per block, CMAE - MAE (paired, 95 % interval); blocks 10-11 follow the second shot:',
             '', '| block | distance, pre-trained | entropy, pre-trained | distance, fine-tuned '
             '| entropy, fine-tuned | CKA with MAE (CMAE run) |', '|---|---|---|---|---|---|']
    for b in range(12):
        cells = [_stats(_paired_metric(claims, run, lambda e, k=f'attn_{kind}_{stage}_b{b:02d}':
                                       e['metrics'].get(k)), 3)
                 for stage in ('pt', 'ft') for kind in ('distance', 'entropy')]
        cka = [e['metrics'].get(f'cka_{claims["baseline"]}_b{b:02d}')
               for e in _by_seed(claims, run).values()]
        cells.append(_mean_std([v for v in cka if v is not None], 3))
        mark = f'**{b}**' if b in HIGH else str(b)
        lines.append(f'| {mark} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _mean_std(values: Sequence[float], digits: int = 2) -> str:
    from .report import format_mean_std
    return format_mean_std(values, digits)


def _band(ax, xs, runs: List[Dict[str, Any]], getter, label: str, color: str) -> None:
    import numpy as np

    rows = [[getter(e, x) for x in xs] for e in runs]
    rows = np.array([r for r in rows if all(v is not None for v in r)], dtype=float)
    if not len(rows):
        return
    mean, std = rows.mean(0), rows.std(0, ddof=1) if len(rows) > 1 else np.zeros(len(xs))
    ax.plot(xs, mean, marker='o', ms=3, color=color, label=f'{label} (n={len(rows)})')
    ax.fill_between(xs, mean - std, mean + std, color=color, alpha=.2)


def _save(fig, path: Path) -> Path:
    """Lay out, write (110 dpi) and close a figure; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _figures(claims: Dict[str, Any], out: Path) -> List[Path]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    names = _measured(claims)
    colors = dict(zip(names, ['tab:blue', 'tab:red', 'tab:green', 'tab:purple', 'tab:orange']))
    groups = {n: list(_by_seed(claims, n).values()) for n in names}
    paths = []
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for (i, stage), (j, kind) in [((i, s), (j, k)) for i, s in enumerate(('pt', 'ft'))
                                  for j, k in enumerate(('distance', 'entropy'))]:
        ax = axes[i, j]
        for n in names:
            _band(ax, list(range(12)), groups[n],
                  lambda e, b, s=stage, k=kind: e['metrics'].get(f'attn_{k}_{s}_b{b:02d}'),
                  n, colors[n])
        ax.axvspan(9.5, 11.5, color='grey', alpha=.1)
        ax.set_title(f"attention {kind}, {'pre-trained' if stage == 'pt' else 'fine-tuned'}")
        ax.set_xlabel('block')
        ax.legend(fontsize=7)
    paths.append(_save(fig, out / 'attention.png'))

    crosses = [np.array(e['cka']['cross']) for n in names[1:] for e in groups[n]
               if 'cross' in (e.get('cka') or {})]
    selfs = {n: [np.array(e['cka']['self']) for e in groups[n] if 'self' in (e.get('cka') or {})]
             for n in names}
    if crosses:
        fig, axes = plt.subplots(1, 2 + len(names), figsize=(4 * (2 + len(names)), 3.6))
        im = axes[0].imshow(np.mean(crosses, 0), vmin=0, vmax=1, origin='lower', cmap='magma')
        axes[0].set_title(f'CKA: {names[1]} (rows) vs {names[0]} (cols)', fontsize=8)
        fig.colorbar(im, ax=axes[0])
        diag = np.array([np.diag(c) for c in crosses])
        axes[1].plot(diag.mean(0), marker='o', color='tab:red')
        axes[1].fill_between(range(diag.shape[1]), diag.mean(0) - diag.std(0),
                             diag.mean(0) + diag.std(0), color='tab:red', alpha=.2)
        axes[1].set_title(f'diagonal, mean ± std (n={len(diag)})', fontsize=8)
        axes[1].set_xlabel('representation (12 = final norm)')
        for ax, n in zip(axes[2:], names):
            if selfs[n]:
                ax.imshow(np.mean(selfs[n], 0), vmin=0, vmax=1, origin='lower', cmap='magma')
            ax.set_title(f'within {n} (n={len(selfs[n])})', fontsize=8)
        paths.append(_save(fig, out / 'cka.png'))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ratios = [0.] + list(OCCLUSION_RATIOS)
    for n in names:
        _band(ax, ratios, groups[n], lambda e, r: e['metrics'].get(
            'robust_clean' if r == 0 else f'robust_occlusion_{round(100 * r):02d}'), n, colors[n])
    ax.set_xlabel('share of patches occluded')
    ax.set_ylabel('test top-1 (%)')
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / 'robustness.png'))

    two_shot = [e for n in names for e in groups[n] if all(k in (e.get('curves') or {})
                                                           for k in SHOT_KEYS)]
    if two_shot:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, color in zip(SHOT_KEYS, ('tab:blue', 'tab:red')):
            for k, e in enumerate(two_shot):
                xs, ys = zip(*e['curves'][key])
                ax.plot(xs, ys, color=color, alpha=.6, lw=1,
                        label=f'{key} ({len(two_shot)} runs)' if k == 0 else None)
        ax.set_yscale('log')
        ax.set_xlabel('iteration')
        ax.set_ylabel('reconstruction error (normalised pixels)')
        ax.legend(fontsize=8)
        paths.append(_save(fig, out / 'loss_curves.png'))
    ratio = _ratio_figure(claims, out)
    return paths + ([ratio] if ratio else [])


def _ratio_sweep(claims: Dict[str, Any]) -> Dict[float, List[Dict[str, Any]]]:
    """The two-shot runs that differ only in the second shot's ratio: ``η_2 -> entries``.

    The sweep is the set of runs sharing the shot layers and first ratio of the study's most
    common two-shot schedule (Fig. 3 varies η_2 at fixed ℓ_2 and η_1).
    """
    two_shot = [e for e in claims['runs'] if len(e.get('ratios') or []) == 2 and e['accuracy']]
    if not two_shot:
        return {}
    keys = [(tuple(e['layers']), e['ratios'][0]) for e in two_shot]
    common = max(set(keys), key=keys.count)
    sweep: Dict[float, List[Dict[str, Any]]] = {}
    for e, key in zip(two_shot, keys):
        if key == common:
            sweep.setdefault(e['ratios'][1], []).append(e)
    return dict(sorted(sweep.items()))


def _ratio_figure(claims: Dict[str, Any], out: Path) -> Optional[Path]:
    """``ratio.png``: fine-tuned and probed top-1 against η_2 (mean ± std over seeds, one point
    per seed), the one-shot baseline as a dashed line with its band; None with fewer than two
    ratios."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    sweep = _ratio_sweep(claims)
    if len(sweep) < 2:
        return None
    base = list(_by_seed(claims, claims['baseline']).values())
    first = next(iter(sweep.values()))[0]
    layers, eta1 = first['layers'], first['ratios'][0]
    fig, axes = plt.subplots(1, len(ACCURACY_METRICS), figsize=(5 * len(ACCURACY_METRICS), 3.8))
    for ax, metric in zip(np.atleast_1d(axes), ACCURACY_METRICS):
        xs = list(sweep)
        values = [[e['accuracy'][metric] for e in sweep[x] if metric in e['accuracy']]
                  for x in xs]
        for x, vs in zip(xs, values):
            ax.plot([x] * len(vs), vs, 'o', ms=3, color='tab:red', alpha=.4)
        ax.errorbar(xs, [np.mean(v) for v in values],
                    yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in values],
                    marker='o', color='tab:red', capsize=3,
                    label=f'L({layers[0]},{layers[1]}; {eta1:g}, η2), seeds per point: '
                          + ','.join(str(len(v)) for v in values))
        ref = [e['accuracy'][metric] for e in base if metric in e['accuracy']]
        if ref:
            mean, std = np.mean(ref), np.std(ref, ddof=1) if len(ref) > 1 else 0.
            ax.axhline(mean, ls='--', color='tab:blue',
                       label=f'{claims["baseline"]} (n={len(ref)})')
            ax.axhspan(mean - std, mean + std, color='tab:blue', alpha=.12)
        ax.set_xscale('log')
        ax.set_xticks(xs)
        ax.set_xticklabels([f'{x:g}' for x in xs])
        ax.set_xlabel('η2, the second shot\'s ratio')
        ax.set_ylabel(f'test top-1 (%), {metric.replace("_top1", "").replace("_", " ")}')
        ax.legend(fontsize=7)
    return _save(fig, out / 'ratio.png')


def write_claims(claims: Dict[str, Any], out_dir: Union[str, Path], recipe: str = ''
                 ) -> List[Path]:
    """Write ``claims.json``, ``report.md`` and the figures of a claims record into ``out_dir``."""
    from ..engine.atomic_io import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = out / 'claims.json'
    atomic_write_bytes((json.dumps(claims, indent=1) + '\n').encode(), record)
    text = out / 'report.md'
    atomic_write_bytes(markdown(claims, recipe).encode(), text)
    return [record, text] + _figures(claims, out)


def claims_report(results_json: Union[str, Path], out_dir: Union[str, Path],
                  study_dir: Optional[Union[str, Path]] = None, recipe: str = '') -> List[Path]:
    """Gather a study's claims (:func:`gather`) and write them (:func:`write_claims`).

    Args:
        results_json: The study's collected ``results.json``.
        out_dir: Output folder, e.g. ``docs/results/fmnist_paper_claims``.
        study_dir: ``<work_root>/<study>`` with the runs' work dirs (CKA matrices, loss curves);
            runs missing there keep the artifacts of an earlier ``claims.json`` in ``out_dir``.
        recipe: A paragraph naming the models and recipes, put under the title.

    Returns:
        List[Path]: The files written.
    """
    results = json.loads(Path(results_json).read_text())
    claims = gather(results, Path(study_dir) if study_dir else None)
    earlier = Path(out_dir) / 'claims.json'
    if earlier.is_file():  # keep artifacts of runs whose work dirs are elsewhere
        old = {(r['run'], r['seed']): r for r in json.loads(earlier.read_text())['runs']}
        for entry in claims['runs']:
            for key in ('cka', 'curves', 'curve_summary'):
                if key not in entry and key in old.get((entry['run'], entry['seed']), {}):
                    entry[key] = old[(entry['run'], entry['seed'])][key]
    return write_claims(claims, out_dir, recipe)
