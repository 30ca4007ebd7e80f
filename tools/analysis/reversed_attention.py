"""Reversed attention maps (paper Fig. 6; Ding et al. CVPR 2023): how much a patch sends to others.

Variant: plain-ViT reversed attention = the head-averaged column A[:, j] of the row-renormalised
patch-to-patch attention of one block, on the full unmasked image. Patches are chosen with
--patches (indices, row-major) or --shot S: the patches a Conditional MAE schedule removes at shot S
in one seeded draw of its masking (the paper shows layer 9 for the tokens removed at layer 10).

    python tools/analysis/reversed_attention.py CONFIG CHECKPOINT --image img.jpg --layer 9 \
        --shot 2 --seed 0 --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.common import add_output_arguments, run_tool
from cmae_mm.analysis.maps import run_reversed_attention


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for random init")
    parser.add_argument('--image', required=True)
    parser.add_argument('--layer', type=int, required=True, help='block index (0-based)')
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument('--patches', type=int, nargs='+')
    choice.add_argument('--shot', type=int, help='patches removed by this shot (1-based)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the masking draw for --shot')
    parser.add_argument('--max-patches', type=int, default=6)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/reversed_attention.py', run_reversed_attention,
                    args.config, args.checkpoint, args.image, args.layer, args.out_dir,
                    patches=args.patches, shot=args.shot, seed=args.seed,
                    max_patches=args.max_patches, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
