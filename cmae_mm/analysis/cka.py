"""Minibatch linear CKA between the layers of two models (paper Fig. 4/15).

Kornblith et al. 2019 with the unbiased HSIC estimator of Song et al. 2012, accumulated over
minibatches before the ratio (Nguyen, Raghu & Kornblith 2021):

    CKA(l, m) = sum_b HSIC1(K_b, L_b) / sqrt(sum_b HSIC1(K_b, K_b) * sum_b HSIC1(L_b, L_b))

with ``K = X X^T`` (linear kernel) of a batch's flattened representations, in float64. Every batch
must have the same size ``n >= 4`` (use ``drop_last``) and both models must see the same images in
the same order. :func:`run_cka` is ``tools/analysis/cka.py``.
"""
import json
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import torch

from .common import (ToolInputError, check_model_inputs, check_outputs, image_batches, list_images,
                     load_encoder, make_out_dir, unmasked_forward)


def gram(x: torch.Tensor) -> torch.Tensor:
    """Linear-kernel Gram matrix with zeroed diagonal: (n, ...) -> (n, n) float64."""
    x = x.reshape(x.shape[0], -1).double()
    k = x @ x.T
    k.fill_diagonal_(0)
    return k


def hsic1(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC of two Gram matrices with zeroed diagonals (n >= 4)."""
    n = k.shape[0]
    if n < 4:
        raise ValueError(f'the unbiased HSIC needs a batch of at least 4 examples, got {n}')
    ones_k, ones_l = k.sum(dim=0), l.sum(dim=1)  # 1^T K and L 1
    value = (torch.trace(k @ l) + k.sum() * l.sum() / ((n - 1) * (n - 2))
             - 2. / (n - 2) * (ones_k @ ones_l))
    return value / (n * (n - 3))


class MinibatchCKA:
    """Accumulates the CKA matrix between ``num_a`` layers of model A and ``num_b`` of model B."""

    def __init__(self, num_a: int, num_b: int) -> None:
        self.cross = torch.zeros(num_a, num_b, dtype=torch.float64)
        self.self_a = torch.zeros(num_a, dtype=torch.float64)
        self.self_b = torch.zeros(num_b, dtype=torch.float64)
        self.batch_size = None

    def update(self, feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> None:
        """Add one minibatch: per layer, representations (n, ...) of the same n images."""
        sizes = {f.shape[0] for f in [*feats_a, *feats_b]}
        if len(sizes) != 1 or (self.batch_size is not None and sizes != {self.batch_size}):
            raise ValueError(f'every representation of every batch needs the same number of '
                             f'images (constant batch size, drop_last); got {sorted(sizes)} '
                             f'after {self.batch_size}')
        self.batch_size = sizes.pop()
        grams_a, grams_b = [gram(f) for f in feats_a], [gram(f) for f in feats_b]
        for i, ka in enumerate(grams_a):
            self.self_a[i] += hsic1(ka, ka)
            for j, kb in enumerate(grams_b):
                self.cross[i, j] += hsic1(ka, kb)
        for j, kb in enumerate(grams_b):
            self.self_b[j] += hsic1(kb, kb)

    def compute(self) -> torch.Tensor:
        """The CKA matrix (num_a, num_b)."""
        return self.cross / torch.sqrt(self.self_a[:, None] * self.self_b[None, :])


def cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """CKA of two representations of the same n >= 4 examples, in one batch."""
    acc = MinibatchCKA(1, 1)
    acc.update([x], [y])
    return float(acc.compute()[0, 0])


def layer_inputs(backbone: torch.nn.Module, images: torch.Tensor) -> List[torch.Tensor]:
    """Per block, the output of its first LayerNorm (``ln1``), then the final norm's output.

    The representations of MAE-Lite's CKA analysis; the CLS token is dropped. Shapes (B, N, C).
    """
    outputs, handles = [], []
    modules = [layer.ln1 for layer in backbone.layers] + [backbone.ln1]
    for module in modules:
        handles.append(module.register_forward_hook(
            lambda m, i, o: outputs.append(o[:, backbone.num_extra_tokens:].detach())))
    try:
        unmasked_forward(backbone, images)
    finally:
        for h in handles:
            h.remove()
    return outputs


def run_cka(model_a: Tuple[str, str, str], model_b: Tuple[str, str, str], images: str,
            out_dir: Union[str, Path], num_images: int = 1000, batch_size: int = 32,
            force: bool = False) -> List[Path]:
    """The CKA matrix between the layers (:func:`layer_inputs`) of two models, and its heatmap.

    Both models see the same images in the same order, in batches of ``batch_size``; the last
    incomplete batch is dropped. Writes ``cka.json`` (labels, images used, batch size, the matrix
    with model A's layers as rows) and ``cka.png`` into ``out_dir``.

    Args:
        model_a: ``(label, config, checkpoint)``; checkpoint ``'none'`` = random init.
        model_b: The same for model B.
        images: Folder of images (searched recursively).
        out_dir: Output folder (created).
        num_images: Use at most this many images (sorted by path).
        batch_size: Images per minibatch, at least 4 (the unbiased HSIC).
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force`` (before any model is loaded).
        ToolInputError: ``batch_size`` below 4, fewer images than one batch, or models with
            different input sizes or normalisations.
        FileNotFoundError: A missing config, checkpoint or image folder.
        UnsafeCheckpointError, CheckpointMismatchError: See :func:`load_encoder`.
    """
    from .plots import plot_cka

    out = Path(out_dir)
    png_path, json_path = check_outputs([out / 'cka.png', out / 'cka.json'], force)
    if batch_size < 4:
        raise ToolInputError(f'batch size {batch_size}: the unbiased HSIC needs at least 4')
    (label_a, *files_a), (label_b, *files_b) = model_a, model_b
    check_model_inputs([files_a, files_b])
    paths = list_images(images, num_images)
    if len(paths) < batch_size:
        raise ToolInputError(f'{len(paths)} images under {images}: need at least one full batch '
                             f'of {batch_size}')
    enc_a, pre = load_encoder(*files_a)
    enc_b, pre_b = load_encoder(*files_b)
    if enc_a.img_size != enc_b.img_size or pre != pre_b:
        raise ToolInputError('the two models need the same input size and normalisation')
    acc = MinibatchCKA(len(enc_a.layers) + 1, len(enc_b.layers) + 1)
    with torch.no_grad():
        for batch in image_batches(paths, enc_a.img_size[0], pre['mean'], pre['std'], batch_size,
                                   drop_last=True, desc='CKA'):
            acc.update(layer_inputs(enc_a, batch), layer_inputs(enc_b, batch))
    matrix = acc.compute()
    used = len(paths) - len(paths) % batch_size
    make_out_dir(out)
    json_path.write_text(json.dumps(dict(
        model_a=label_a, model_b=label_b, images=used, batch_size=batch_size,
        layers='block ln1 outputs 0..L-1, then the final norm', cka=matrix.tolist()), indent=1))
    plot_cka(matrix, label_a, label_b, png_path)
    return [png_path, json_path]
