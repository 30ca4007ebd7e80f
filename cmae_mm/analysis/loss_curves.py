"""Loss curves from mmengine work_dirs (``<work_dir>/<timestamp>/vis_data/scalars.json``)."""
import json
from pathlib import Path
from typing import Dict, List, Tuple


def read_scalars(work_dir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Key -> [(iteration, value)] from every ``vis_data/scalars.json`` of a work_dir.

    mmengine writes one JSON object per line with ``step`` (or ``iter``) and the logged values;
    runs resumed into the same work_dir are concatenated in timestamp order.
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
    return series
