"""Training curves of one or more mmengine work_dirs, including the per-shot errors (Fig. 7, 9).

Reads every <work_dir>/<timestamp>/vis_data/scalars.json (mmengine's LocalVisBackend) and plots
the chosen keys against the iteration; for Conditional MAE, rec_err_shot{s} is the reconstruction
error of the patches removed by shot s (logged, not optimised).

    python tools/analysis/loss_curves.py work_dirs/cmae_a work_dirs/cmae_b --out-dir out
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--keys', nargs='+', default=None,
                        help='scalars to plot (default: loss and every rec_err_shot*)')
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)

    from cmae_mm.analysis import read_scalars
    from cmae_mm.analysis.plots import plot_curves

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for work_dir in args.work_dirs:
        series = read_scalars(work_dir)
        keys = args.keys or ['loss'] + sorted(k for k in series if k.startswith('rec_err_shot'))
        unknown = [k for k in keys if k not in series]
        if unknown:
            parser.error(f'{work_dir} logged no {unknown}; it has {sorted(series)}')
        runs[Path(work_dir).name] = {k: series[k] for k in keys}
    (out / 'loss_curves.json').write_text(json.dumps(runs))
    png = plot_curves(runs, out / 'loss_curves.png')
    print(f'wrote {png} and {out / "loss_curves.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
