"""Matplotlib figures of the analysis tools (PNG, headless)."""
from pathlib import Path
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def save_figure(fig, path) -> Path:
    """Lay out ``fig``, write it as a PNG at 110 dpi (creating the folder) and close it.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path (str | Path): The PNG file.

    Returns:
        Path: ``path``.
    """
    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_head_statistics(results: Dict[str, Dict[int, Dict[str, List[float]]]], path: Path,
                         distance_unit: str) -> Path:
    """Per layer, one point per head, models side by side: distance (top) and entropy (bottom)."""
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    labels = list(results)
    width = 0.8 / max(len(labels), 1)
    for m, label in enumerate(labels):
        for layer, stats in results[label].items():
            for ax, key in zip(axes, ('distance', 'entropy')):
                values = stats[key]
                x = [layer - 0.4 + width * (m + 0.5)] * len(values)
                ax.scatter(x, values, s=10, color=f'C{m}', label=label if layer == 0 else None)
    unit = {'patch': 'patch-grid units', 'pixel': 'pixels'}[distance_unit]
    axes[0].set_ylabel(f'attention distance ({unit})')
    axes[1].set_ylabel('attention entropy (nats)')
    axes[1].set_xlabel('block')
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_cka(matrix: torch.Tensor, label_a: str, label_b: str, path: Path) -> Path:
    """CKA heatmap, model A layers on the y axis (the last row/column is the final norm)."""
    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(matrix.numpy(), origin='lower', vmin=0, vmax=1, cmap='magma')
    ax.set_ylabel(f'{label_a} layer')
    ax.set_xlabel(f'{label_b} layer')
    fig.colorbar(image, ax=ax, label='CKA')
    return save_figure(fig, path)


def plot_curves(runs: Dict[str, Dict[str, List[Tuple[int, float]]]], path: Path) -> Path:
    """One line per (run, key) against the iteration."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for r, (run, series) in enumerate(runs.items()):
        for k, (key, points) in enumerate(series.items()):
            steps, values = zip(*points)
            ax.plot(steps, values, color=f'C{r}', linestyle=['-', '--', ':', '-.'][k % 4],
                    label=f'{run}: {key}')
    ax.set_xlabel('iteration')
    ax.set_ylabel('value')
    ax.legend(fontsize=7)
    return save_figure(fig, path)
