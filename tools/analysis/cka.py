"""CKA layer-similarity heatmap between two models (paper Fig. 4, 15).

Variant: linear CKA with the unbiased HSIC estimator (Song et al. 2012) accumulated over
minibatches before the ratio (Nguyen, Raghu & Kornblith 2021), float64, constant batch size
(the last incomplete batch is dropped). Representations, as MAE-Lite: each block's first
LayerNorm output and the final norm output, patch tokens only (CLS dropped), flattened per image;
full unmasked images, the same images in the same order for both models.

    python tools/analysis/cka.py --images data/imagenet100/val --num-images 1000 \
        --model-a mae configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py work_dirs/mae/epoch_300.pth \
        --model-b cmae configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py work_dirs/cmae/epoch_300.pth --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.cka import run_cka
from cmae_mm.analysis.common import add_output_arguments, run_tool


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for side in ('a', 'b'):
        parser.add_argument(f'--model-{side}', nargs=3, required=True,
                            metavar=('LABEL', 'CONFIG', 'CHECKPOINT'),
                            help="CHECKPOINT 'none' = random init")
    parser.add_argument('--images', required=True, help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=1000)
    parser.add_argument('--batch-size', type=int, default=32, help='at least 4')
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/cka.py', run_cka,
                    args.model_a, args.model_b, args.images, args.out_dir,
                    num_images=args.num_images, batch_size=args.batch_size, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
