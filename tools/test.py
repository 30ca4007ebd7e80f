"""Evaluate a checkpoint with a config's test loop (mmpretrain, mmdet or mmseg).

The library is chosen by the config's ``default_scope``. On a machine without CUDA the config is
adapted for CPUs as in ``tools/train.py`` (see :mod:`cmae_mm.compat`).

Examples::

    python tools/test.py CONFIG work_dirs/run1/epoch_100.pth
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    python tools/test.py CONFIG CHECKPOINT --perturb occlusion shuffle   # robustness (Tab. 9)
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from mmengine.config import DictAction  # light: no torch

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


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


def enable_visualization(cfg: 'Config', scope: str, show_dir: str) -> None:
    """Make the config's visualisation hook draw test predictions into ``show_dir``.

    Each library names the switch and the output directory differently: mmpretrain's
    ``VisualizationHook`` takes ``enable``/``out_dir`` (and draws every ``interval``-th sample:
    set to 1), mmdet's ``DetVisualizationHook``
    ``draw``/``test_out_dir``, and mmseg's ``SegVisualizationHook`` draws into the visualizer's
    ``save_dir``.

    Args:
        cfg: The config, modified in place.
        scope: The config's default scope.
        show_dir: Output directory.

    Raises:
        ValueError: If the config has no ``default_hooks.visualization``.
    """
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise ValueError('--show-dir needs a visualization hook in default_hooks')
    if scope == 'mmpretrain':
        hook.update(enable=True, interval=1, out_dir=show_dir)
    elif scope == 'mmdet':
        hook.update(draw=True, test_out_dir=show_dir)
    else:  # mmseg
        hook.update(draw=True)
        cfg.visualizer.save_dir = show_dir


def add_dump_metric(runner: 'Runner', scope: str, out: str) -> None:
    """Append a metric that dumps the test predictions to ``out``.

    Args:
        runner: The runner (its test loop is built here).
        scope: The config's default scope (mmdet has its own dump format).
        out: Pickle file path.
    """
    if scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults as Dump
    else:
        from mmengine.evaluator import DumpResults as Dump
    metric = Dump(out_file_path=out)
    runner.test_evaluator.metrics.append(metric)


def check_paths(args: argparse.Namespace) -> Optional[str]:
    """Check the files named on the command line (cheap: before the heavy imports).

    Args:
        args: The parsed command line.

    Returns:
        An error message, or None if the config and a local checkpoint exist and ``--out`` is a
        pickle file name.
    """
    if not Path(args.config).is_file():
        return f'config file not found: {args.config}'
    if '://' not in args.checkpoint and not Path(args.checkpoint).is_file():
        return f'checkpoint not found: {args.checkpoint}'
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        return f'--out must be a .pkl or .pickle file, got {args.out}'
    return None


def main(argv: Optional[List[str]] = None) -> None:
    """Test as the command line says.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.
    """
    args = parse_args(argv)
    error = check_paths(args)
    if error:
        sys.exit(f'tools/test.py: error: {error}')
    # Arguments are checked above before the heavy imports (torch, the OpenMMLab libraries: about
    # 8 s); cmae_mm comes first of those so its compatibility layer precedes any checkpoint loading.
    import cmae_mm  # noqa: F401
    from cmae_mm.compat import LauncherEnvError
    from cmae_mm.launch import load_config, prepare_config, run, set_local_rank

    set_local_rank(args.local_rank)
    try:
        cfg = load_config(args.config, args.cfg_options)
        for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
            if cfg.get(key) is None:
                raise ValueError(f'the config has no {key}: it cannot be tested')
        cfg.load_from = args.checkpoint
        cfg.resume = False
        if args.perturb is not None:
            cfg.test_cfg = dict(type='RobustnessTestLoop', perturbations=args.perturb,
                                seed=args.perturb_seed, patch_size=args.perturb_patch_size)
        scope = prepare_config(cfg, args.config, args.work_dir, args.launcher)
        if args.show_dir is not None:
            enable_visualization(cfg, scope, args.show_dir)
    except (FileNotFoundError, ValueError, LauncherEnvError) as e:
        sys.exit(f'tools/test.py: error: {e}')
    prepare = None if args.out is None else partial(add_dump_metric, scope=scope, out=args.out)
    run(cfg, 'test', prepare)


if __name__ == '__main__':
    main()
