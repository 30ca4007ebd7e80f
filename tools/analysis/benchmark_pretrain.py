"""Training-step time, memory and FLOPs of every pre-training family: stock baselines vs multi-shot.

Stock mmpretrain MAE vs Conditional MAE one-, two- and three-shot (ViT-S/B/L, --archs), stock
mmpretrain SimMIM vs CMAESimMIM one- and two-shot (Swin-B, 192 px, real SimMIMMaskGenerator
masks), FCMAE ConvNeXt V2-B one- vs two-shot (224 px). Each model is built from its pre-training
config (with overrides), trained with its config's optimizer wrapper, and measured interleaved with
the other models of its family and a dense-matmul probe: several rounds, medians. Prints the
device, torch version, thread count and a markdown table; --json writes everything. Methods
(memory, FLOPs, peak): see the cmae_mm/analysis/benchmark package. Examples:

    .venv/bin/python tools/analysis/benchmark_pretrain.py --rounds 5 --batch-size 2
    .venv/bin/python tools/analysis/benchmark_pretrain.py --archs s b l \\
        --models mae cmae-2shot --device cuda --amp --batch-size 64 --json work_dirs/bench.json
    .venv/bin/python tools/analysis/benchmark_pretrain.py --models mae cmae-2shot --profile mae
    .venv/bin/python tools/analysis/benchmark_pretrain.py --models mae fcmae-1shot --variants fused
"""
import argparse
import sys

from cmae_mm.analysis.benchmark import MODEL_NAMES, VARIANTS, VIT_ARCHS, run_benchmark


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=list(MODEL_NAMES), choices=MODEL_NAMES,
                        metavar='NAME', help=f'subset of {", ".join(MODEL_NAMES)} (default: all)')
    parser.add_argument('--archs', nargs='+', default=['b'], choices=sorted(VIT_ARCHS),
                        help='ViT sizes for the ViT models (default: b)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5, help='timed rounds (default: 5)')
    parser.add_argument('--warmup', type=int, default=1, help='warm-up steps per model')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    parser.add_argument('--amp', action='store_true',
                        help="mixed precision as the configs' AmpOptimWrapper (CUDA only)")
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--profile', nargs='*', default=None, metavar='NAME',
                        help='also profile these models (none given: every selected one) with '
                        'torch.profiler and print their step time by op category')
    parser.add_argument('--json', default=None, metavar='PATH', help='write the results here')
    parser.add_argument('--variants', nargs='+', default=[], choices=sorted(VARIANTS),
                        help='also measure a twin of every model (fused: torch\'s fused AdamW), '
                        'in the same rounds, its ratio against the model')
    args = parser.parse_args(argv)
    try:
        run_benchmark(args.models, args.archs, batch_size=args.batch_size, rounds=args.rounds,
                      warmup=args.warmup, device=args.device, amp=args.amp,
                      threads=args.threads, profile=args.profile, json_path=args.json,
                      variants=args.variants)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    return 0


if __name__ == '__main__':
    sys.exit(main())
