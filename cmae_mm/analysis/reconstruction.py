"""Reconstruction grids: original / visible input after each shot / reconstruction."""
from pathlib import Path
from typing import List, Sequence, Union

import numpy as np
import torch


def shot_visibility(shot_index: torch.Tensor, num_shots: int) -> List[torch.Tensor]:
    """Per shot, which patches are still visible after it.

    Args:
        shot_index (torch.Tensor): (B, N), 0 = never removed, s = removed by shot s.
        num_shots (int): ``S``.

    Returns:
        List[torch.Tensor]: ``S`` bool tensors (B, N); entry ``s-1`` is True where a patch survived
        shots 1..s.
    """
    return [(shot_index == 0) | (shot_index > s) for s in range(1, num_shots + 1)]


def to_image(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(C, H, W) normalised -> (H, W, 3) in [0, 1]; a single (grayscale) channel is repeated."""
    c = x.shape[0]
    x = x.detach().cpu() * torch.tensor(std).view(c, 1, 1) + torch.tensor(mean).view(c, 1, 1)
    x = (x / 255.).clamp(0, 1)
    return x.expand(3, -1, -1).permute(1, 2, 0).numpy() if c == 1 else x.permute(1, 2, 0).numpy()


def _patch_mask(visible: torch.Tensor, patch_size: int, grid: int) -> torch.Tensor:
    """(N,) bool -> (1, H, W) float pixel mask."""
    m = visible.view(grid, grid).float()
    return m.repeat_interleave(patch_size, 0).repeat_interleave(patch_size, 1)[None]


@torch.no_grad()
def save_reconstruction_grid(model: torch.nn.Module, inputs: torch.Tensor,
                             path: Union[str, Path], mean: Sequence[float],
                             std: Sequence[float]) -> Path:
    """Save a PNG: one row per image; columns original, input after each shot, reconstruction.

    The reconstruction pastes the predicted pixels into the patches removed by any shot and keeps
    the original pixels elsewhere (as MAE's figures do).

    Args:
        model (torch.nn.Module): A :class:`ConditionalMAE` (``reconstruct`` and ``backbone``).
        inputs (torch.Tensor): Normalised images (B, C, H, W), C = 3 or 1 (grayscale).
        path (str | Path): Output PNG.
        mean (Sequence[float]): Data-preprocessor mean (0-255 scale) to undo the normalisation.
        std (Sequence[float]): Data-preprocessor std.

    Returns:
        Path: The written file.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    model.eval()
    out = model.reconstruct(inputs)
    schedule, p = model.backbone.schedule, model.head.patch_size
    grid = inputs.shape[-1] // p
    visible_after = shot_visibility(out['shot_index'], schedule.num_shots)
    titles = ['original'] + [
        f'after shot {s + 1}: block {layer}, η={ratio:g}'
        for s, (layer, ratio) in enumerate(zip(schedule.layers, schedule.ratios))
    ] + ['reconstruction']
    fig, axes = plt.subplots(len(inputs), len(titles),
                             figsize=(1.9 * len(titles), 1.9 * len(inputs)), squeeze=False)
    for b in range(len(inputs)):
        panels = [inputs[b]]
        panels += [inputs[b] * _patch_mask(v[b], p, grid) for v in visible_after]
        visible = _patch_mask(visible_after[-1][b], p, grid)
        panels.append(inputs[b] * visible + out['pred'][b] * (1 - visible))
        for col, panel in enumerate(panels):
            ax = axes[b, col]
            ax.imshow(to_image(panel, mean, std), interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if b == 0:
                ax.set_title(titles[col], fontsize=7)
    fig.suptitle(f'Conditional MAE {schedule}: removed patches are grey', fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
