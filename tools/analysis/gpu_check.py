"""The GPU acceptance run: every pre-training family trains on this machine, how fast, in how
much memory (cmae_mm/analysis/benchmark/acceptance.py describes each check).

Usually started through tools/gpu_check.sh, which builds or reuses the environment first:

    bash tools/gpu_check.sh                          # CUDA machine: the full run (<= 8 min, H100)
    bash tools/gpu_check.sh --cpu-smoke              # any machine: tiny models, a few minutes
    bash tools/gpu_check.sh --cpu-smoke --compile-backend aot_eager   # no C++ compiled, ~1 min
    .venv/bin/python tools/analysis/gpu_check.py --out-dir work_dirs/gpu_check --iters 30
    .venv/bin/python tools/analysis/gpu_check.py --only fcmae-2shot   # again, one model only

Every pre-training model is timed eager, then compiled as tools/train.py --compile compiles it
(forward compiled, optimizer step eager): compiled ms/iter, compiled / eager, compile seconds.
Writes <out-dir>/gpu_check.json and gpu_check.md and prints the table. Exit code 0 when every
check passed or was skipped with its reason, 1 naming the first failed check, 2 on bad arguments
(e.g. no CUDA device without --cpu-smoke).
"""
import argparse
import sys
from pathlib import Path

from cmae_mm.analysis.benchmark.acceptance import CHECKS, markdown, run_acceptance


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default='work_dirs/gpu_check',
                        help='where gpu_check.json and gpu_check.md go (default: %(default)s)')
    parser.add_argument('--cpu-smoke', action='store_true',
                        help='CPU, shrunk models, 1 warm-up + 2 timed iterations, no dist check')
    parser.add_argument('--iters', type=int, default=30, help='timed iterations per model')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations first')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="per-GPU batch of every pre-training model (default: its config's)")
    parser.add_argument('--no-dense', action='store_true', help='skip UperNet and Mask R-CNN')
    parser.add_argument('--no-dist', action='store_true', help='skip the 2-process dist_train.sh')
    parser.add_argument('--compile-backend', default='inductor',
                        help='torch.compile backend of the compiled step timed after the eager '
                        'ones, as tools/train.py --compile runs it (default: %(default)s; '
                        'aot_eager compiles no C++)')
    parser.add_argument('--no-compile', action='store_true', help='eager steps only')
    names = list(dict.fromkeys(name for name, _ in CHECKS))
    parser.add_argument('--only', nargs='+', metavar='MODEL', default=None,
                        help='check only these pre-training models, every arch of each (one of '
                        f'{", ".join(names)}; default: all)')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or (args.batch_size is not None and args.batch_size < 1):
        parser.error(f'--iters {args.iters} must be >= 1, --warmup {args.warmup} >= 0 and '
                     f'--batch-size {args.batch_size} >= 1')
    unknown = [name for name in args.only or () if name not in names]
    if unknown:
        parser.error(f'--only {" ".join(unknown)}: not a model of the run; allowed: '
                     f'{", ".join(names)}')
    checks = [c for c in CHECKS if args.only is None or c[0] in args.only]
    try:
        report = run_acceptance(Path(args.out_dir), smoke=args.cpu_smoke, iters=args.iters,
                                warmup=args.warmup, checks=checks, dense=not args.no_dense,
                                dist=not args.no_dist, batch_size=args.batch_size,
                                compile_backend=None if args.no_compile else args.compile_backend)
    except ValueError as e:
        parser.error(str(e))
    print()
    print(markdown(report), end='')
    print(f'wrote {Path(args.out_dir) / "gpu_check.json"} and gpu_check.md')
    if report['first_failure']:
        print(f"error: first failing check: {report['first_failure']}", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
