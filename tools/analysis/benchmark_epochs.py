"""Training epochs through tools/train.py: the default (eager) path against --compile.

Fresh tools/train.py processes, interleaved round by round (cmae_mm/analysis/benchmark/epochs.py):
the Fashion-MNIST tiny-ViT pre-training epoch (configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py,
L(0,10; 0.75,0.1), 235 iterations at batch 256) and fine-tuning epochs (the 1,000-label
fine-tuning config, 16 iterations at batch 64 per epoch, randomly initialised backbone: speed does
not depend on the weights). Needs data/fashion_mnist (tools/dataset_converters/
prepare_fashion_mnist.py). Prints a markdown table; --json writes every run. Example:

    .venv/bin/python tools/analysis/benchmark_epochs.py --rounds 5 \\
        --json docs/results/benchmark/epochs_fmnist.json
"""
import argparse
import sys

import torch

from cmae_mm.analysis.benchmark.epochs import epochs_table, measure_epochs
from cmae_mm.analysis.benchmark.report import write_json
from cmae_mm.analysis.common import cpu_name

JOBS = {
    'pretrain (1 epoch)': dict(
        config='configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py',
        options=['train_cfg.max_epochs=1']),
    'finetune (3 epochs)': dict(
        config='configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py',
        options=['train_cfg.max_epochs=3', 'model.backbone.init_cfg=None']),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--jobs', nargs='+', default=list(JOBS), choices=list(JOBS),
                        metavar='JOB', help=f'subset of: {"; ".join(JOBS)} (default: all)')
    parser.add_argument('--rounds', type=int, default=5, help='rounds (default: 5)')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of the training processes (default: 1)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs per run for every job (default: as listed)')
    parser.add_argument('--json', default=None, metavar='PATH', help='write the results here')
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f'--rounds {args.rounds} must be at least 1')
    jobs = {name: dict(JOBS[name]) for name in args.jobs}
    if args.epochs is not None:
        if args.epochs < 1:
            parser.error(f'--epochs {args.epochs} must be at least 1')
        for job in jobs.values():
            job['options'] = [o for o in job['options'] if not o.startswith('train_cfg.max_epochs')]
            job['options'].append(f'train_cfg.max_epochs={args.epochs}')
    env = dict(device='cpu', device_name=cpu_name(), torch=torch.__version__,
               threads=args.threads, rounds=args.rounds)
    print(f"cpu ({env['device_name']}), torch {env['torch']}, {args.threads} thread(s) per run, "
          f'{args.rounds} rounds, variants interleaved', flush=True)
    results = measure_epochs(jobs, rounds=args.rounds, threads=args.threads,
                             log=lambda s: print(s, flush=True))
    print(epochs_table(results))
    if args.json:
        write_json(args.json, dict(environment=env, results=results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
