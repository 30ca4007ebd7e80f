"""Evaluate a checkpoint with a config's test loop (mmpretrain, mmdet or mmseg).

The library is chosen by the config's ``default_scope``. On a machine without CUDA the config is
adapted for CPUs as in ``tools/train.py`` (see :mod:`cmae_mm.engine.cpu_compat`).

Examples::

    python tools/test.py CONFIG work_dirs/run1/epoch_100.pth
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    python tools/test.py CONFIG CHECKPOINT --perturb occlusion shuffle   # robustness (Tab. 9)
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

from cmae_mm.engine import LAUNCHERS
from cmae_mm.engine.entrypoints import test


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmpretrain's ``tools/test.py`` interface).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Test a checkpoint with an mmengine Runner')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the logs and metrics '
                        '(default: the config\'s work_dir, else work_dirs/<config name>)')
    parser.add_argument('--out', help='dump the predictions to this pickle file (.pkl/.pickle)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing --out file')
    parser.add_argument('--show-dir', help='save visualised predictions under this directory '
                        '(mmdet takes a relative path relative to <work dir>/<timestamp>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (dotted keys)')
    parser.add_argument('--perturb', nargs='+', choices=('occlusion', 'shuffle'),
                        help='robustness test (paper Tab. 9): evaluate clean, then with each '
                        'perturbation, and report the metrics and their drops. occlusion sets a '
                        'random 50%% of the patches to the mean colour, shuffle permutes the patch '
                        'grid (RobustnessTestLoop)')
    parser.add_argument('--perturb-seed', type=int, default=0,
                        help='seed of the perturbations (each image draws from the pair (seed, its '
                        'sample index))')
    parser.add_argument('--perturb-patch-size', type=int, default=None,
                        help="cell size of the perturbations (default: the backbone's patch_size, "
                        'else 16)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by legacy launchers; torchrun sets LOCAL_RANK instead')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Test as the command line says (``cmae_mm.engine.entrypoints.test``)."""
    test(parse_args(argv))


if __name__ == '__main__':
    main()
