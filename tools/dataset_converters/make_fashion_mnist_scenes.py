"""Compose detection / segmentation scenes from Fashion-MNIST (COCO instances + ADE20K-style maps).

Reads the extracted idx files that tools/dataset_converters/prepare_fashion_mnist.py writes and
writes, under --out, single-channel PNG scenes of 1-4 rescaled, possibly overlapping garments on
a textured background, with COCO instance annotations (RLE masks) for mmdet's CocoDataset and
semantic maps (0 = background, 1-10 = classes, reduce_zero_label=False) for mmseg. Training
scenes use only training images outside the validation split, validation scenes only that split,
test scenes only the test images. Deterministic from --seed; written into a staging folder,
checked, then renamed into place. The rules and the layout:
cmae_mm/datasets/fashion_mnist_scenes.py.

Usage:
    python tools/dataset_converters/make_fashion_mnist_scenes.py
    python tools/dataset_converters/make_fashion_mnist_scenes.py --num-train 1000 --size 96 \
        --out data/fashion_mnist_scenes_96 --seed 1
"""
import argparse
import sys

from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError
from cmae_mm.datasets.fashion_mnist_scenes import (DEFAULT_COUNTS, SceneOptions,
                                                   make_fashion_mnist_scenes)


def main() -> int:
    defaults = SceneOptions()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--fashion-mnist-root', default='data/fashion_mnist',
                        help='prepared Fashion-MNIST folder (default: %(default)s)')
    parser.add_argument('--out', default='data/fashion_mnist_scenes',
                        help='output folder (default: %(default)s)')
    for split, count in DEFAULT_COUNTS.items():
        parser.add_argument(f'--num-{split}', type=int, default=count,
                            help=f'{split} scenes (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--size', type=int, default=defaults.size,
                        help='canvas side in pixels (default: %(default)s)')
    parser.add_argument('--min-objects', type=int, default=defaults.min_objects,
                        help='fewest garments drawn per scene (default: %(default)s)')
    parser.add_argument('--max-objects', type=int, default=defaults.max_objects,
                        help='most garments drawn per scene (default: %(default)s)')
    parser.add_argument('--min-scale', type=float, default=defaults.min_scale,
                        help='smallest rescaling of a 28-px garment (default: %(default)s)')
    parser.add_argument('--max-scale', type=float, default=defaults.max_scale,
                        help='largest rescaling (default: %(default)s)')
    parser.add_argument('--threshold', type=int, default=defaults.threshold,
                        help='mask = resized garment intensity above this, 0-254 '
                        '(default: %(default)s)')
    parser.add_argument('--min-visible', type=int, default=defaults.min_visible,
                        help='fewest visible pixels of a garment; fewer: neither painted nor '
                        'annotated (default: %(default)s)')
    parser.add_argument('--background', type=int, default=defaults.background,
                        help='amplitude of the background texture, gray levels '
                        '(default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing --out made with other options')
    args = parser.parse_args()
    options = SceneOptions(size=args.size, min_objects=args.min_objects,
                           max_objects=args.max_objects, min_scale=args.min_scale,
                           max_scale=args.max_scale, threshold=args.threshold,
                           min_visible=args.min_visible, background=args.background)
    counts = {split: getattr(args, f'num_{split}') for split in DEFAULT_COUNTS}
    try:
        print(make_fashion_mnist_scenes(args.fashion_mnist_root, args.out, counts, args.seed,
                                        options, force=args.force))
    except (FashionMNISTSourceError, FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
