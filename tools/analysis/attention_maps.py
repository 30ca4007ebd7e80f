"""Class-token attention maps of the last block, per head and averaged, with the 50%-mass contour
(paper Fig. 11-13; DINO's visualize_attention).

Variant: full unmasked image; last block's post-softmax attention of the CLS query over the patch
keys, per head normalised to sum 1; the contour encloses the smallest set of patches holding
--mass (default 0.5) of it (sort, cumulative sum > 1 - mass), upsampled to pixels.

    python tools/analysis/attention_maps.py CONFIG CHECKPOINT --images data/imagenet100/val \
        --num-images 4 --out-dir out
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
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for random init")
    parser.add_argument('--images', required=True, help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--mass', type=float, default=0.5)
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from cmae_mm.analysis import (AttentionRecorder, image_batches, list_images, load_encoder,
                                  unmasked_forward)
    from cmae_mm.analysis.maps import cls_attention, draw_region_contour, mass_region, upsample
    from cmae_mm.analysis.reconstruction import to_image

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone, pre = load_encoder(args.config, args.checkpoint)
    paths = list_images(args.images, args.num_images)
    size, grid = backbone.img_size, tuple(backbone.patch_resolution)
    last = len(backbone.layers) - 1
    images, maps = [], []
    with torch.no_grad(), AttentionRecorder(backbone, [last]) as recorder:
        for batch in image_batches(paths, size[0], pre['mean'], pre['std'], 8):
            unmasked_forward(backbone, batch)
            images.append(batch)
            maps.append(cls_attention(recorder.weights[last], grid))
    images, maps = torch.cat(images), torch.cat(maps)  # (B, 3, H, W), (B, heads, h, w)
    mean_maps = maps.mean(dim=1, keepdim=True)
    all_maps = torch.cat([mean_maps, maps], dim=1)  # column 0: head average
    regions = mass_region(all_maps, args.mass)
    cols = all_maps.shape[1] + 1
    fig, axes = plt.subplots(len(paths), cols, figsize=(1.6 * cols, 1.6 * len(paths)), squeeze=False)
    for b in range(len(paths)):
        axes[b, 0].imshow(to_image(images[b], pre['mean'], pre['std']))
        for c in range(all_maps.shape[1]):
            ax = axes[b, c + 1]
            ax.imshow(upsample(all_maps[b, c], size).numpy(), cmap='inferno')
            draw_region_contour(ax, regions[b, c], size=size)
            if b == 0:
                ax.set_title('mean' if c == 0 else f'head {c - 1}', fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / 'attention_maps.png', dpi=110)
    plt.close(fig)
    summary = dict(images=[str(p) for p in paths], block=last, mass=args.mass,
                   region_fraction=regions.float().mean(dim=(-2, -1)).tolist(),
                   columns=['mean'] + [f'head {h}' for h in range(maps.shape[1])])
    (out / 'attention_maps.json').write_text(json.dumps(summary, indent=1))
    print(f'wrote {out / "attention_maps.png"} and {out / "attention_maps.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
