"""Reconstruction grid of a pre-training checkpoint, for any family of the suite (ViT Conditional
MAE, SimMIM-Swin, FCMAE ConvNeXt V2): one row per image; columns original, the input after each
shot (blue = removed: the ViT's patches per block, the hierarchical models' mask cells at the
input and at the stage of each later shot) and the reconstruction (the prediction in the removed
cells). The same grid as tools/demo.py draws (cmae_mm/analysis/reconstruction.py).

Images: files and folders (read recursively), the first --num of them; with none, --num images of
the config's training dataset chosen with --seed. The masks are one draw of the model's schedule
after seeding with --seed. Next to the PNG a JSON record lists, per row, the image and the model's
masks as drawn (shot_index: 0 = never removed, s = removed by shot s, cells in raster order) and
where each panel lies in the PNG.

    python tools/analysis/reconstruct.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py \\
        work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images/epoch_300.pth data/my_images/a.jpg data/more/ \\
        --out grid.png
    python tools/analysis/reconstruct.py CONFIG CHECKPOINT --out grid.png --num 8 --seed 1

The checkpoint is loaded with weights_only and strictly (missing or unexpected keys are named);
a bad input (missing checkpoint, non-image file, empty folder) stops with one line naming it.
"""
import argparse
import sys

from mmengine.config import DictAction

from cmae_mm.analysis.common import run_tool
from cmae_mm.analysis.reconstruction import run_reconstruct


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the pre-training config')
    parser.add_argument('checkpoint', help='its checkpoint (Runner checkpoint or whole-model '
                        'state dict)')
    parser.add_argument('images', nargs='*', help='image files and folders (default: images of '
                        "the config's training dataset)")
    parser.add_argument('--out', required=True, help='output PNG; the JSON record is written '
                        'next to it')
    parser.add_argument('--num', type=int, default=4, help='number of images (rows), default 4')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the masks and of the dataset images, default 0')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (dotted keys)')
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/reconstruct.py', run_reconstruct, args.config, args.checkpoint,
                    args.images, out=args.out, num=args.num, seed=args.seed, force=args.force,
                    cfg_options=args.cfg_options)


if __name__ == '__main__':
    sys.exit(main())
