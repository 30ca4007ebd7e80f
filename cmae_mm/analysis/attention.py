"""Real attention weights of a ViT, and the attention distance / entropy statistics (paper Fig. 5).

The fast path (``scaled_dot_product_attention``) returns no weights. :class:`AttentionRecorder`
registers a forward hook on each block's own ``attn.qkv`` projection and computes
``softmax(q k^T / sqrt(d))`` from its output: the weights of the trained modules themselves, with
no re-implemented network, and the model's outputs are untouched (tested).

Statistics follow Wang et al. (ICML 2023, MAE-Lite ``attn_analyzer.py``): the patch-to-patch block
(CLS dropped as query and key) is renormalised per row; entropy of query i is
``H_i = -sum_j A_ij ln(A_ij + 1e-6)`` (nats); distance of query i is
``D_i = sum_j A_ij * c * ||g_i - g_j||_2`` with ``g`` the (col, row) patch-grid coordinates and
``c`` the unit: 1 (grid units, default) or the patch size (pixels; MAE-Lite uses 14). Both are
averaged over queries and images, per layer and head. :func:`run_attention_distance` is
``tools/analysis/attention_distance.py``.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .common import (ToolInputError, check_model_inputs, check_outputs, image_batches, list_images,
                     load_encoder, make_out_dir, unmasked_forward)


class AttentionRecorder:
    """Context manager recording post-softmax attention of the blocks of an mmpretrain ViT.

    Args:
        backbone (nn.Module): A ``VisionTransformer`` (or ``MAEViT``/``CMAEViT``) with ``layers``
            whose ``attn`` is mmpretrain's ``MultiheadAttention``.
        layers (Sequence[int], optional): Block indices to record. Defaults to all.

    Attributes:
        weights (Dict[int, torch.Tensor]): Block index -> attention (B, heads, T, T) of the last
            forward, ``T`` tokens including the CLS token.

    Example:
        >>> with AttentionRecorder(model.backbone) as rec:
        ...     model.backbone(images, mask=None)
        >>> rec.weights[11].shape  # (B, heads, 1 + N, 1 + N)
    """

    def __init__(self, backbone: nn.Module, layers: Optional[Sequence[int]] = None) -> None:
        self.backbone = backbone
        self.layers = list(range(len(backbone.layers))) if layers is None else list(layers)
        self.weights: Dict[int, torch.Tensor] = {}
        self._handles: List = []

    def __enter__(self) -> 'AttentionRecorder':
        for i in self.layers:
            attn = self.backbone.layers[i].attn
            self._handles.append(attn.qkv.register_forward_hook(self._hook(i, attn)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int, attn: nn.Module):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor], qkv: torch.Tensor) -> None:
            B, T, _ = qkv.shape
            qkv = qkv.reshape(B, T, 3, attn.num_heads, attn.head_dims).permute(2, 0, 3, 1, 4)
            q, k = qkv[0], qkv[1]  # (B, heads, T, d)
            logits = (q @ k.transpose(-2, -1)) * attn.head_dims**-0.5
            self.weights[index] = logits.softmax(dim=-1).detach()

        return hook


def patch_attention(weights: torch.Tensor, num_extra_tokens: int = 1) -> torch.Tensor:
    """Patch-to-patch attention, rows renormalised: (B, H, T, T) -> (B, H, N, N)."""
    a = weights[..., num_extra_tokens:, num_extra_tokens:]
    return a / a.sum(dim=-1, keepdim=True)


def grid_distances(grid: Tuple[int, int]) -> torch.Tensor:
    """Euclidean distances between the (col, row) coordinates of an ``h x w`` patch grid: (N, N)."""
    h, w = grid
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    coords = torch.stack([cols.flatten(), rows.flatten()], dim=1).double()
    return torch.cdist(coords, coords)


def attention_entropy(a: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each query's attention: (..., N, N) -> (..., N)."""
    return -(a * torch.log(a + 1e-6)).sum(dim=-1)


def attention_distance(a: torch.Tensor, distances: torch.Tensor, unit: float = 1.) -> torch.Tensor:
    """Mean attended distance of each query: (..., N, N) with (N, N) distances -> (..., N)."""
    return (a.double() * distances).sum(dim=-1) * unit


class HeadStatistics:
    """Accumulates per-layer, per-head mean attention distance and entropy over images.

    Args:
        grid (Tuple[int, int]): Patch grid ``(h, w)``.
        unit (float): Distance unit ``c``: 1 for grid units, the patch size for pixels.
        num_extra_tokens (int): Leading non-patch tokens (CLS). Defaults to 1.
    """

    def __init__(self, grid: Tuple[int, int], unit: float = 1., num_extra_tokens: int = 1) -> None:
        self.distances = grid_distances(grid)
        self.unit = unit
        self.num_extra_tokens = num_extra_tokens
        self.sums: Dict[int, Dict[str, torch.Tensor]] = {}
        self.count = 0

    def update(self, weights: Dict[int, torch.Tensor]) -> None:
        """Add one batch: block index -> attention (B, H, T, T)."""
        batch = None
        for layer, w in weights.items():
            a = patch_attention(w.double(), self.num_extra_tokens)
            stats = dict(entropy=attention_entropy(a).mean(-1).sum(0),
                         distance=attention_distance(a, self.distances, self.unit).mean(-1).sum(0))
            acc = self.sums.setdefault(layer, {k: torch.zeros_like(v) for k, v in stats.items()})
            for key, value in stats.items():
                acc[key] += value
            batch = w.shape[0]
        self.count += batch or 0

    def result(self) -> Dict[int, Dict[str, List[float]]]:
        """Layer -> {'distance': [per head], 'entropy': [per head]} averaged over images."""
        return {layer: {k: (v / self.count).tolist() for k, v in acc.items()}
                for layer, acc in sorted(self.sums.items())}


def run_attention_distance(models: Sequence[Tuple[str, str, str]], images: str,
                           out_dir: Union[str, Path], num_images: int = 500, batch_size: int = 16,
                           distance_unit: str = 'patch', force: bool = False) -> List[Path]:
    """Attention distance and entropy per layer and head of several models, plotted side by side.

    Writes ``attention_distance.json`` (``meta`` and, per model label, layer -> per-head
    ``distance`` and ``entropy``) and ``attention_distance.png`` into ``out_dir``.

    Args:
        models: ``(label, config, checkpoint)`` per model; checkpoint ``'none'`` = random init.
        images: Folder of images (searched recursively).
        out_dir: Output folder (created).
        num_images: Use at most this many images (sorted by path).
        batch_size: Images per forward pass.
        distance_unit: ``'patch'`` (grid units) or ``'pixel'`` (times the patch size).
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force`` (before any model is loaded).
        ToolInputError: Repeated labels or an unknown distance unit.
        FileNotFoundError: A missing config, checkpoint or image folder.
        UnsafeCheckpointError, CheckpointMismatchError: See :func:`load_encoder`.
    """
    from .plots import plot_head_statistics

    out = Path(out_dir)
    json_path, png_path = check_outputs(
        [out / 'attention_distance.json', out / 'attention_distance.png'], force)
    labels = [label for label, _, _ in models]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ToolInputError(f'model labels must differ; repeated: {repeated}')
    if distance_unit not in ('patch', 'pixel'):
        raise ToolInputError(f"distance unit {distance_unit!r}: must be 'patch' or 'pixel'")
    check_model_inputs([(config, checkpoint) for _, config, checkpoint in models])
    paths = list_images(images, num_images)
    results = {}
    for label, config, checkpoint in models:
        backbone, pre = load_encoder(config, checkpoint)
        grid = tuple(backbone.patch_resolution)
        patch = backbone.img_size[0] // grid[0]
        stats = HeadStatistics(grid, unit=1. if distance_unit == 'patch' else float(patch))
        with torch.no_grad(), AttentionRecorder(backbone) as recorder:
            for batch in image_batches(paths, backbone.img_size[0], pre['mean'], pre['std'],
                                       batch_size, desc=label):
                unmasked_forward(backbone, batch)
                stats.update(recorder.weights)
        results[label] = stats.result()
    meta = dict(images=len(paths), distance_unit=distance_unit,
                variant='patch-to-patch attention, CLS dropped, rows renormalised; '
                        'mean over queries and images')
    make_out_dir(out)
    json_path.write_text(json.dumps(dict(meta=meta, models=results), indent=1))
    plot_head_statistics(results, png_path, distance_unit)
    return [png_path, json_path]
