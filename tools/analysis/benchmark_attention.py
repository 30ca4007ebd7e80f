"""Attention over few tokens: torch's SDPA vs matmul-softmax-matmul, eager and compiled.

Times the attention op (forward + backward) at the shapes of the suite's configs (the
Fashion-MNIST tiny ViT: 13 and 50 tokens; ViT-B/L at 224 px: 50 and 197), four variants per
shape measured interleaved, medians of --rounds rounds (cmae_mm/analysis/benchmark/attention.py).
Prints a markdown table; --json writes the rows with the environment. Example:

    .venv/bin/python tools/analysis/benchmark_attention.py --threads 1 --rounds 7 \\
        --json docs/results/benchmark/attention.json
"""
import argparse
import sys

import torch

from cmae_mm.analysis.benchmark.attention import ATTENTION_CASES, attention_table, measure_attention
from cmae_mm.analysis.benchmark.report import write_json
from cmae_mm.analysis.common import cpu_name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [c.name for c in ATTENTION_CASES]
    parser.add_argument('--cases', nargs='+', default=names, choices=names, metavar='CASE',
                        help=f'subset of: {"; ".join(names)} (default: all)')
    parser.add_argument('--rounds', type=int, default=5, help='timed rounds (default: 5)')
    parser.add_argument('--reps', type=int, default=5, help='steps per variant per round')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--json', default=None, metavar='PATH', help='write the results here')
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1:
        parser.error(f'--rounds {args.rounds} and --reps {args.reps} must be at least 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    env = dict(device='cpu', device_name=cpu_name(), torch=torch.__version__,
               threads=torch.get_num_threads(), rounds=args.rounds, reps=args.reps)
    print(f"cpu ({env['device_name']}), torch {env['torch']}, {env['threads']} thread(s), "
          f"{args.rounds} rounds x {args.reps} steps per variant, forward + backward")
    rows = measure_attention([c for c in ATTENTION_CASES if c.name in args.cases],
                             rounds=args.rounds, reps=args.reps)
    print(attention_table(rows))
    if args.json:
        write_json(args.json, dict(environment=env, rows=rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
