"""Reversed attention maps (paper Fig. 6; Ding et al. CVPR 2023): how much a patch sends to others.

Variant: plain-ViT reversed attention = the head-averaged column A[:, j] of the row-renormalised
patch-to-patch attention of one block, on the full unmasked image. Patches are chosen with
--patches (indices, row-major) or --shot S: the patches a Conditional MAE schedule removes at shot S
in one seeded draw of its masking (the paper shows layer 9 for the tokens removed at layer 10).

    python tools/analysis/reversed_attention.py CONFIG CHECKPOINT --image img.jpg --layer 9 \
        --shot 2 --seed 0 --out-dir out
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
    parser.add_argument('--image', required=True)
    parser.add_argument('--layer', type=int, required=True, help='block index (0-based)')
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument('--patches', type=int, nargs='+')
    choice.add_argument('--shot', type=int, help='patches removed by this shot (1-based)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the masking draw for --shot')
    parser.add_argument('--max-patches', type=int, default=6)
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from cmae_mm.analysis import AttentionRecorder, image_batches, load_encoder, unmasked_forward
    from cmae_mm.analysis.maps import reversed_attention, upsample
    from cmae_mm.analysis.reconstruction import to_image

    backbone, pre = load_encoder(args.config, args.checkpoint)
    if not 0 <= args.layer < len(backbone.layers):
        parser.error(f'--layer={args.layer}: must be in [0, {len(backbone.layers) - 1}]')
    size, grid = backbone.img_size, tuple(backbone.patch_resolution)
    image = next(image_batches([Path(args.image)], size[0], pre['mean'], pre['std'], 1))
    with torch.no_grad():
        if args.shot is not None:
            schedule = getattr(backbone, 'schedule', None)
            if schedule is None or not 1 <= args.shot <= schedule.num_shots:
                parser.error(f'--shot={args.shot}: the model has '
                             f'{schedule.num_shots if schedule else 0} shots (a CMAEViT schedule)')
            torch.manual_seed(args.seed)
            shot_index = backbone(image)[1][0]
            patches = torch.nonzero(shot_index == args.shot).flatten().tolist()
        else:
            patches = args.patches
        patches = patches[:args.max_patches]
        with AttentionRecorder(backbone, [args.layer]) as recorder:
            unmasked_forward(backbone, image)
        maps = torch.stack([reversed_attention(recorder.weights[args.layer], j, grid)[0]
                            for j in patches])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(patches) + 1, figsize=(2 * (len(patches) + 1), 2.2), squeeze=False)
    axes[0, 0].imshow(to_image(image[0], pre['mean'], pre['std']))
    axes[0, 0].set_title('image', fontsize=8)
    p = size[0] // grid[0]
    for ax, j, m in zip(axes[0, 1:], patches, maps):
        ax.imshow(to_image(image[0], pre['mean'], pre['std']))
        ax.imshow(upsample(m, size).numpy(), cmap='jet', alpha=0.55)
        row, col = divmod(j, grid[1])
        ax.add_patch(plt.Rectangle((col * p - 0.5, row * p - 0.5), p, p, fill=False, color='white'))
        ax.set_title(f'patch {j}', fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f'reversed attention, block {args.layer}', fontsize=9)
    fig.tight_layout()
    fig.savefig(out / 'reversed_attention.png', dpi=110)
    plt.close(fig)
    (out / 'reversed_attention.json').write_text(json.dumps(dict(
        image=args.image, layer=args.layer, shot=args.shot, seed=args.seed, patches=patches,
        maps=maps.tolist()), indent=1))
    print(f'wrote {out / "reversed_attention.png"} and {out / "reversed_attention.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
