"""Tokens / visible cells per block or stage and forward FLOPs per image of a pre-training config.

For any pre-training config of the suite (ViT: Conditional MAE / MAE; Swin: SimMIM; ConvNeXt V2:
FCMAE), builds the model, runs its masked training forward (encoder, decoder, loss) on random
images (a real SimMIMMaskGenerator mask for Swin) and prints, per encoder block (ViT) or stage
(Swin, ConvNeXt), the visible tokens or mask cells and the multiply-adds, then the encoder /
decoder / head split. Counted with mmengine.analysis.FlopAnalyzer where its jit trace works,
torch's FlopCounterMode otherwise; the output says which. Examples:

    .venv/bin/python tools/analysis/get_flops.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
    .venv/bin/python tools/analysis/get_flops.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py \\
        --cfg-options model.backbone.mask_layers=[0,10,11] model.backbone.mask_ratios=[0.75,0.1,0.1]
    .venv/bin/python tools/analysis/get_flops.py configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py
"""
import argparse
import sys

from mmengine.config import DictAction

from cmae_mm.analysis.benchmark import run_get_flops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a pre-training config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='override config keys, e.g. model.backbone.mask_ratios=[0.75,0.1]')
    parser.add_argument('--batch-size', type=int, default=1, help='images traced (default: 1)')
    args = parser.parse_args(argv)
    try:
        run_get_flops(args.config, args.cfg_options, batch_size=args.batch_size)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    return 0


if __name__ == '__main__':
    sys.exit(main())
