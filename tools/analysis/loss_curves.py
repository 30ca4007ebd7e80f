"""Training curves of one or more mmengine work_dirs, including the per-shot errors (Fig. 7, 9).

Reads every <work_dir>/<timestamp>/vis_data/scalars.json (mmengine's LocalVisBackend) and plots
the chosen keys against the iteration; for Conditional MAE, rec_err_shot{s} is the reconstruction
error of the patches removed by shot s (logged, not optimised); rec_err_trivial is the error of
predicting zero for the same patches, and loss/trivial the loss as a fraction of it (1.0 = the run
learnt nothing beyond the mean), for every family.

    python tools/analysis/loss_curves.py work_dirs/cmae_a work_dirs/cmae_b --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.common import add_output_arguments, run_tool
from cmae_mm.analysis.loss_curves import run_loss_curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--keys', nargs='+', default=None,
                        help='scalars to plot (default: loss, every rec_err_shot*, rec_err_trivial, '
                        'loss/trivial)')
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/loss_curves.py', run_loss_curves,
                    args.work_dirs, args.out_dir, keys=args.keys, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
