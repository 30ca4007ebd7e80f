"""Attention distance and attention entropy per layer and head (paper Fig. 5, 16-20).

Variant (Wang et al. ICML 2023, MAE-Lite): full unmasked images; per block, the post-softmax
attention of the trained modules; CLS dropped as query and key, rows renormalised; entropy in
nats, -sum A ln(A + 1e-6); distance sum_j A_ij c ||g_i - g_j|| with patch-grid coordinates g and
c = 1 (--distance-unit patch, grid units) or the patch size (--distance-unit pixel); averaged over
queries and images. Several models are plotted side by side, one point per head.

    python tools/analysis/attention_distance.py --images data/imagenet100/val --num-images 500 \
        --model mae configs/selfsup/cmae_vitb_300e.py work_dirs/mae/epoch_300.pth \
        --model cmae configs/selfsup/cmae_vitb_300e.py work_dirs/cmae/epoch_300.pth --out-dir out
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


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
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)

    from cmae_mm.analysis import (AttentionRecorder, HeadStatistics, image_batches, list_images,
                                  load_encoder, unmasked_forward)
    from cmae_mm.analysis.plots import plot_head_statistics

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = list_images(args.images, args.num_images)
    results = {}
    for label, config, checkpoint in args.model:
        backbone, pre = load_encoder(config, checkpoint)
        grid = tuple(backbone.patch_resolution)
        patch = backbone.img_size[0] // grid[0]
        stats = HeadStatistics(grid, unit=1. if args.distance_unit == 'patch' else float(patch))
        with torch.no_grad(), AttentionRecorder(backbone) as recorder:
            for images in image_batches(paths, backbone.img_size[0], pre['mean'], pre['std'],
                                        args.batch_size, desc=label):
                unmasked_forward(backbone, images)
                stats.update(recorder.weights)
        results[label] = stats.result()
    meta = dict(images=len(paths), distance_unit=args.distance_unit,
                variant='patch-to-patch attention, CLS dropped, rows renormalised; '
                        'mean over queries and images')
    (out / 'attention_distance.json').write_text(json.dumps(dict(meta=meta, models=results), indent=1))
    png = plot_head_statistics(results, out / 'attention_distance.png', args.distance_unit)
    print(f'wrote {png} and {out / "attention_distance.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
