"""Loss curves from mmengine work_dirs (``<work_dir>/<timestamp>/vis_data/scalars.json``).

:func:`run_loss_curves` is ``tools/analysis/loss_curves.py``.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .common import ToolInputError, check_outputs, make_out_dir

#: Logged by the reconstruction heads: the loss of predicting zero on the same removed patches.
TRIVIAL_ERROR_KEY = 'rec_err_trivial'
#: Derived here: ``loss / rec_err_trivial`` of every logged step (1.0 = no better than the mean).
RATIO_KEY = 'loss/trivial'


def read_scalars(work_dir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Key -> [(iteration, value)] from every ``vis_data/scalars.json`` of a work_dir.

    mmengine writes one JSON object per line with ``step`` (or ``iter``) and the logged values;
    runs resumed into the same work_dir are concatenated in timestamp order. Where a step logged
    ``rec_err_trivial``, the series ``loss/trivial`` (the loss as a fraction of the trivial
    reconstruction's) is added.
    """
    files = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir} (an mmengine '
                                f'work_dir with LocalVisBackend)')
    series: Dict[str, List[Tuple[int, float]]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            step = record.get('step', record.get('iter'))
            if step is None or 'lr' not in record and 'loss' not in record:
                continue  # validation records carry metrics, not training scalars
            for key, value in record.items():
                if key not in ('step', 'iter', 'epoch') and isinstance(value, (int, float)):
                    series.setdefault(key, []).append((int(step), float(value)))
            if record.get(TRIVIAL_ERROR_KEY) and 'loss' in record:
                series.setdefault(RATIO_KEY, []).append(
                    (int(step), float(record['loss']) / float(record[TRIVIAL_ERROR_KEY])))
    return series


def run_loss_curves(work_dirs: Sequence[str], out_dir: Union[str, Path],
                    keys: Optional[Sequence[str]] = None, force: bool = False) -> List[Path]:
    """Plot logged training scalars of one or more work_dirs against the iteration.

    Writes ``loss_curves.json`` (work_dir name -> key -> ``[[iteration, value], ...]``) and
    ``loss_curves.png`` into ``out_dir``.

    Args:
        work_dirs: mmengine work_dirs (see :func:`read_scalars`).
        out_dir: Output folder (created).
        keys: Scalars to plot; default ``loss``, every ``rec_err_shot*``, ``rec_err_trivial`` and
            ``loss/trivial`` a run logged.
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force``.
        FileNotFoundError: A work_dir without ``*/vis_data/scalars.json``.
        ToolInputError: A key a run did not log.
    """
    from .plots import plot_curves

    out = Path(out_dir)
    png_path, json_path = check_outputs([out / 'loss_curves.png', out / 'loss_curves.json'], force)
    runs = {}
    for work_dir in work_dirs:
        series = read_scalars(work_dir)
        wanted = list(keys or ['loss'] + sorted(k for k in series if k.startswith('rec_err_shot'))
                      + [k for k in (TRIVIAL_ERROR_KEY, RATIO_KEY) if k in series])
        unknown = [k for k in wanted if k not in series]
        if unknown:
            raise ToolInputError(f'{work_dir} logged no {unknown}; it has {sorted(series)}')
        runs[Path(work_dir).name] = {k: series[k] for k in wanted}
    make_out_dir(out)
    json_path.write_text(json.dumps(runs))
    plot_curves(runs, png_path)
    return [png_path, json_path]
