"""t-SNE of last-layer patch representations labelled by segmentation classes (paper Fig. 10).

Variant (following CAE): images and label maps of a dataset in ADE20K layout
(<root>/images/<split>/*.jpg, <root>/annotations/<split>/*.png) resized to the model's input size;
each patch is labelled with the class covering more than half of its pixels (mixed patches and the
--ignore ids, ADE20K's 0 "other" and 255, are skipped); up to --per-class patches per class from
--num-images images; final-norm patch tokens of the unmasked image; scikit-learn TSNE (2-D, PCA
init, fixed --seed); coloured by class.

    python tools/analysis/tsne.py CONFIG CHECKPOINT --data-root data/ade/ADEChallengeData2016 \
        --out-dir out
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for random init")
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--split', default='validation')
    parser.add_argument('--num-images', type=int, default=500)
    parser.add_argument('--per-class', type=int, default=200)
    parser.add_argument('--ignore', type=int, nargs='*', default=[0, 255])
    parser.add_argument('--max-iter', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from PIL import Image
    from sklearn.manifold import TSNE
    from tqdm import tqdm

    from cmae_mm.analysis import image_batches, load_encoder, unmasked_forward
    from cmae_mm.analysis.maps import patch_labels

    root = Path(args.data_root)
    images = sorted((root / 'images' / args.split).glob('*.jpg'))[:args.num_images]
    if not images:
        parser.error(f'no images/{args.split}/*.jpg under {root} (ADE20K layout)')
    backbone, pre = load_encoder(args.config, args.checkpoint)
    size = backbone.img_size[0]
    p = size // backbone.patch_resolution[0]
    feats, labels, counts = [], [], {}
    for path in tqdm(images, desc='patches', unit='img'):
        ann = root / 'annotations' / args.split / f'{path.stem}.png'
        if not ann.is_file():
            parser.error(f'{path} has no label map {ann}')
        label_map = torch.from_numpy(np.asarray(
            Image.open(ann).resize((size, size), Image.NEAREST), dtype=np.int64))
        patch_class = patch_labels(label_map, p, tuple(args.ignore))
        with torch.no_grad():
            batch = next(image_batches([path], size, pre['mean'], pre['std'], 1, desc=path.stem))
            tokens = unmasked_forward(backbone, batch)[0][0, backbone.num_extra_tokens:]
        for token, cls in zip(tokens, patch_class.tolist()):
            if cls >= 0 and counts.get(cls, 0) < args.per_class:
                counts[cls] = counts.get(cls, 0) + 1
                feats.append(token.numpy())
                labels.append(cls)
    if len(feats) < 5:
        parser.error(f'only {len(feats)} labelled patches found: need at least 5')
    x = np.stack(feats)
    tsne = TSNE(n_components=2, init='pca', random_state=args.seed, max_iter=args.max_iter,
                perplexity=min(30.0, (len(x) - 1) / 3))
    emb = tsne.fit_transform(x)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap='tab20', s=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f't-SNE of {len(x)} patches, {len(counts)} classes', fontsize=9)
    fig.tight_layout()
    fig.savefig(out / 'tsne.png', dpi=110)
    plt.close(fig)
    (out / 'tsne.json').write_text(json.dumps(dict(
        images=len(images), patches_per_class=counts, embedding=emb.tolist(), labels=labels)))
    print(f'wrote {out / "tsne.png"} and {out / "tsne.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
