"""t-SNE of last-layer patch representations labelled by segmentation classes (paper Fig. 10).

:func:`run_tsne` is ``tools/analysis/tsne.py``.
"""
import json
from pathlib import Path
from typing import List, Sequence, Union

import numpy as np
import torch

from .common import (ToolInputError, check_model_inputs, check_outputs, image_batches,
                     load_encoder, unmasked_forward)
from .maps import patch_labels


def run_tsne(config: str, checkpoint: str, data_root: Union[str, Path], out_dir: Union[str, Path],
             split: str = 'validation', num_images: int = 500, per_class: int = 200,
             ignore: Sequence[int] = (0, 255), max_iter: int = 1000, seed: int = 0,
             force: bool = False) -> List[Path]:
    """t-SNE of final-norm patch tokens, each labelled with the class covering most of its pixels.

    Reads a dataset in ADE20K layout (``<data_root>/images/<split>/*.jpg`` and
    ``<data_root>/annotations/<split>/<stem>.png``), resized to the model's input size. A patch is
    labelled with the class covering more than half of its pixels (:func:`patch_labels`; mixed
    patches and ``ignore`` ids are skipped); up to ``per_class`` patches per class, from the first
    ``num_images`` images. scikit-learn's TSNE (2-D, PCA init, ``random_state=seed``). Writes
    ``tsne.png`` (coloured by class) and ``tsne.json`` (image count, patches per class, the
    embedding and the labels) into ``out_dir``.

    Args:
        config: An mmpretrain config whose ``model.backbone`` is a ViT.
        checkpoint: Its checkpoint, or ``'none'`` for random initialisation.
        data_root: Root of the ADE20K-layout dataset.
        out_dir: Output folder (created).
        split: Split folder name.
        num_images: Use at most this many images (sorted by path).
        per_class: Keep at most this many patches of each class.
        ignore: Class ids that never label a patch.
        max_iter: TSNE iterations (scikit-learn needs at least 250).
        seed: TSNE random state.
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force`` (before any model is loaded).
        FileNotFoundError: A missing config or checkpoint, no images, or an image without a
            label map.
        ToolInputError: ``max_iter`` below 250, or fewer than 5 labelled patches.
        UnsafeCheckpointError, CheckpointMismatchError: See :func:`load_encoder`.
    """
    from .plots import plt, save_figure  # matplotlib with the headless Agg backend
    from PIL import Image
    from sklearn.manifold import TSNE
    from tqdm import tqdm

    out = Path(out_dir)
    png_path, json_path = check_outputs([out / 'tsne.png', out / 'tsne.json'], force)
    if max_iter < 250:
        raise ToolInputError(f'max_iter={max_iter}: scikit-learn\'s TSNE needs at least 250')
    check_model_inputs([(config, checkpoint)])
    root = Path(data_root)
    images = sorted((root / 'images' / split).glob('*.jpg'))[:num_images]
    if not images:
        raise FileNotFoundError(f'no images/{split}/*.jpg under {root} (ADE20K layout)')
    label_maps = [root / 'annotations' / split / f'{path.stem}.png' for path in images]
    missing = [str(ann) for ann in label_maps if not ann.is_file()]
    if missing:
        raise FileNotFoundError(f'{len(missing)} images have no label map, e.g. {missing[0]}')
    backbone, pre = load_encoder(config, checkpoint)
    size = backbone.img_size[0]
    p = size // backbone.patch_resolution[0]
    feats, labels, counts = [], [], {}
    for path, ann in tqdm(list(zip(images, label_maps)), desc='patches', unit='img'):
        label_map = torch.from_numpy(np.asarray(
            Image.open(ann).resize((size, size), Image.NEAREST), dtype=np.int64))
        patch_class = patch_labels(label_map, p, tuple(ignore))
        with torch.no_grad():
            batch = next(image_batches([path], size, pre['mean'], pre['std'], 1, desc=path.stem))
            tokens = unmasked_forward(backbone, batch)[0][0, backbone.num_extra_tokens:]
        for token, cls in zip(tokens, patch_class.tolist()):
            if cls >= 0 and counts.get(cls, 0) < per_class:
                counts[cls] = counts.get(cls, 0) + 1
                feats.append(token.numpy())
                labels.append(cls)
    if len(feats) < 5:
        raise ToolInputError(f'only {len(feats)} labelled patches found: need at least 5')
    x = np.stack(feats)
    tsne = TSNE(n_components=2, init='pca', random_state=seed, max_iter=max_iter,
                perplexity=min(30.0, (len(x) - 1) / 3))
    emb = tsne.fit_transform(x)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap='tab20', s=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f't-SNE of {len(x)} patches, {len(counts)} classes', fontsize=9)
    save_figure(fig, png_path)
    json_path.write_text(json.dumps(dict(
        images=len(images), patches_per_class=counts, embedding=emb.tolist(), labels=labels)))
    return [png_path, json_path]
