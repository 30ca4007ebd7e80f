"""Class-token attention maps of the last block, per head and averaged, with the 50%-mass contour
(paper Fig. 11-13; DINO's visualize_attention).

Variant: full unmasked image; last block's post-softmax attention of the CLS query over the patch
keys, per head normalised to sum 1; the contour encloses the smallest set of patches holding
--mass (default 0.5) of it (sort, cumulative sum > 1 - mass), upsampled to pixels.

    python tools/analysis/attention_maps.py CONFIG CHECKPOINT --images data/imagenet100/val \
        --num-images 4 --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.common import add_output_arguments, run_tool
from cmae_mm.analysis.maps import run_attention_maps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for random init")
    parser.add_argument('--images', required=True, help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--mass', type=float, default=0.5)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/attention_maps.py', run_attention_maps,
                    args.config, args.checkpoint, args.images, args.out_dir,
                    num_images=args.num_images, mass=args.mass, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
