"""Attention distance and attention entropy per layer and head (paper Fig. 5, 16-20).

Variant (Wang et al. ICML 2023, MAE-Lite): full unmasked images; per block, the post-softmax
attention of the trained modules; CLS dropped as query and key, rows renormalised; entropy in
nats, -sum A ln(A + 1e-6); distance sum_j A_ij c ||g_i - g_j|| with patch-grid coordinates g and
c = 1 (--distance-unit patch, grid units) or the patch size (--distance-unit pixel); averaged over
queries and images. Several models are plotted side by side, one point per head.

    python tools/analysis/attention_distance.py --images data/imagenet100/val --num-images 500 \
        --model mae configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py work_dirs/mae/epoch_300.pth \
        --model cmae configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py work_dirs/cmae/epoch_300.pth --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.attention import run_attention_distance
from cmae_mm.analysis.common import add_output_arguments, run_tool


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('LABEL', 'CONFIG', 'CHECKPOINT'),
                        help="a model to analyse (repeat); CHECKPOINT 'none' = random init")
    parser.add_argument('--images', required=True, help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=500)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--distance-unit', choices=('patch', 'pixel'), default='patch')
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/attention_distance.py', run_attention_distance,
                    args.model, args.images, args.out_dir, num_images=args.num_images,
                    batch_size=args.batch_size, distance_unit=args.distance_unit, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
