"""Compare studies that differ only in pre-training length (the paper's Fig. 8 question).

Each argument is ``EPOCHS=RESULTS_JSON`` (a study's collected results). Writes ``length.md`` (per
length: mean ± std of each run, the paired ``--run`` − ``--baseline`` difference and each
reference's, with 95 % t-intervals and sign-flip p-values) and ``length.png`` into ``--out-dir``.

    python tools/analysis/pretrain_length.py 5=docs/results/fmnist_pt5e/results.json \\
        20=docs/results/fmnist_pt20e/results.json --out-dir docs/results/fmnist_length
"""
import argparse
import sys
from pathlib import Path

from cmae_mm.study.report import length_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('studies', nargs='+', metavar='EPOCHS=RESULTS_JSON')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--metric', default='finetune_top1')
    parser.add_argument('--run', default='cmae')
    parser.add_argument('--baseline', default='mae')
    args = parser.parse_args(argv)
    studies = {}
    for item in args.studies:
        epochs, _, path = item.partition('=')
        if not epochs.isdigit() or not Path(path).is_file():
            print(f'error: {item!r}: expected EPOCHS=RESULTS_JSON with an existing file',
                  file=sys.stderr)
            return 2
        studies[int(epochs)] = path
    written = length_report(studies, args.out_dir, args.metric, args.run, args.baseline)
    print('\n'.join(f'wrote {p}' for p in written.values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
