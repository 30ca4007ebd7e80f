"""CKA layer-similarity heatmap between two models (paper Fig. 4, 15).

Variant: linear CKA with the unbiased HSIC estimator (Song et al. 2012) accumulated over
minibatches before the ratio (Nguyen, Raghu & Kornblith 2021), float64, constant batch size
(the last incomplete batch is dropped). Representations, as MAE-Lite: each block's first
LayerNorm output and the final norm output, patch tokens only (CLS dropped), flattened per image;
full unmasked images, the same images in the same order for both models.

    python tools/analysis/cka.py --images data/imagenet100/val --num-images 1000 \
        --model-a mae configs/selfsup/cmae_vitb_300e.py work_dirs/mae/epoch_300.pth \
        --model-b cmae configs/selfsup/cmae_vitb_300e.py work_dirs/cmae/epoch_300.pth --out-dir out
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
    for side in ('a', 'b'):
        parser.add_argument(f'--model-{side}', nargs=3, required=True,
                            metavar=('LABEL', 'CONFIG', 'CHECKPOINT'),
                            help="CHECKPOINT 'none' = random init")
    parser.add_argument('--images', required=True, help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=1000)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)
    if args.batch_size < 4:
        parser.error(f'--batch-size={args.batch_size}: the unbiased HSIC needs at least 4')

    from cmae_mm.analysis import MinibatchCKA, image_batches, layer_inputs, list_images, load_encoder
    from cmae_mm.analysis.plots import plot_cka

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = list_images(args.images, args.num_images)
    if len(paths) < args.batch_size:
        parser.error(f'{len(paths)} images under {args.images}: need at least one full batch '
                     f'of --batch-size={args.batch_size}')
    (label_a, *model_a), (label_b, *model_b) = args.model_a, args.model_b
    enc_a, pre = load_encoder(model_a[0], model_a[1])
    enc_b, pre_b = load_encoder(model_b[0], model_b[1])
    if enc_a.img_size != enc_b.img_size or pre != pre_b:
        parser.error('the two models need the same input size and normalisation')
    acc = MinibatchCKA(len(enc_a.layers) + 1, len(enc_b.layers) + 1)
    with torch.no_grad():
        for images in image_batches(paths, enc_a.img_size[0], pre['mean'], pre['std'],
                                    args.batch_size, drop_last=True, desc='CKA'):
            acc.update(layer_inputs(enc_a, images), layer_inputs(enc_b, images))
    matrix = acc.compute()
    used = len(paths) - len(paths) % args.batch_size
    (out / 'cka.json').write_text(json.dumps(dict(
        model_a=label_a, model_b=label_b, images=used, batch_size=args.batch_size,
        layers='block ln1 outputs 0..L-1, then the final norm', cka=matrix.tolist()), indent=1))
    png = plot_cka(matrix, label_a, label_b, out / 'cka.png')
    print(f'wrote {png} and {out / "cka.json"} ({used} images)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
