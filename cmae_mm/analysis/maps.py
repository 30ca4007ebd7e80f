"""Per-patch maps from recorded attention: CLS attention with its 50%-mass region, reversed
attention, and patch labels from segmentation masks."""
from typing import Optional, Tuple

import torch


def cls_attention(weights: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """CLS query over the patch keys, normalised to sum 1 per head (DINO's maps).

    Args:
        weights (torch.Tensor): Post-softmax attention (B, H, 1 + N, 1 + N) of one block.
        grid (Tuple[int, int]): Patch grid ``(h, w)``, ``h * w = N``.

    Returns:
        torch.Tensor: (B, H, h, w).
    """
    a = weights[:, :, 0, 1:]
    a = a / a.sum(dim=-1, keepdim=True)
    return a.reshape(*a.shape[:2], *grid)


def mass_region(attention_map: torch.Tensor, mass: float = 0.5) -> torch.Tensor:
    """The smallest set of patches holding ``mass`` of a normalised map (DINO's thresholding).

    Args:
        attention_map (torch.Tensor): (..., h, w), non-negative.
        mass (float): Fraction of the total to keep, in (0, 1].

    Returns:
        torch.Tensor: Bool (..., h, w), True inside the region.
    """
    if not 0 < mass <= 1:
        raise ValueError(f'mass={mass}: must be in (0, 1]')
    flat = attention_map.flatten(-2)
    flat = flat / flat.sum(dim=-1, keepdim=True)
    values, order = torch.sort(flat, dim=-1)  # ascending
    keep_sorted = torch.cumsum(values, dim=-1) > (1 - mass)
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return keep.reshape(attention_map.shape)


def reversed_attention(weights: torch.Tensor, patch: int, grid: Tuple[int, int],
                       num_extra_tokens: int = 1) -> torch.Tensor:
    """How much patch ``patch`` sends to every patch: head-averaged column of the patch block.

    For a plain ViT, the reversed attention of Ding et al. (CVPR 2023) for key ``j`` is the column
    ``A[:, j]`` of the (row-renormalised) patch-to-patch attention, averaged over heads.

    Args:
        weights (torch.Tensor): (B, H, T, T) attention of one block.
        patch (int): Patch index ``j`` in ``[0, N)`` (row-major on the grid).
        grid (Tuple[int, int]): ``(h, w)``.

    Returns:
        torch.Tensor: (B, h, w).
    """
    a = weights[..., num_extra_tokens:, num_extra_tokens:]
    a = a / a.sum(dim=-1, keepdim=True)
    if not 0 <= patch < a.shape[-1]:
        raise ValueError(f'patch={patch}: must be in [0, {a.shape[-1] - 1}]')
    return a[..., patch].mean(dim=1).reshape(a.shape[0], *grid)


def patch_labels(label_map: torch.Tensor, patch_size: int,
                 ignore: Tuple[int, ...] = (0, 255)) -> torch.Tensor:
    """Label each patch with the class covering more than half of its pixels, else -1.

    Args:
        label_map (torch.Tensor): (H, W) integer class ids.
        patch_size (int): ``p``; H and W must be multiples of it.
        ignore (Tuple[int, ...]): Ids that never label a patch (ADE20K: 0 "other", 255 ignore).

    Returns:
        torch.Tensor: (H/p * W/p,) long, -1 for mixed or ignored patches.
    """
    H, W = label_map.shape
    if H % patch_size or W % patch_size:
        raise ValueError(f'label map {H}x{W} is not divisible by patch_size={patch_size}')
    patches = label_map.reshape(H // patch_size, patch_size, W // patch_size, patch_size)
    patches = patches.permute(0, 2, 1, 3).reshape(-1, patch_size * patch_size).long()
    mode, _ = torch.mode(patches, dim=1)
    share = (patches == mode[:, None]).float().mean(dim=1)
    labels = torch.where(share > 0.5, mode, torch.full_like(mode, -1))
    for value in ignore:
        labels[labels == value] = -1
    return labels


def upsample(patch_map: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Nearest upsampling of (..., h, w) patch maps to pixels (..., H, W)."""
    shape = patch_map.shape
    x = patch_map.reshape(-1, 1, *shape[-2:]).float()
    x = torch.nn.functional.interpolate(x, size=size, mode='nearest')
    return x.reshape(*shape[:-2], *size)


def draw_region_contour(ax, region: torch.Tensor, color: str = 'deepskyblue',
                        size: Optional[Tuple[int, int]] = None) -> None:
    """Draw the boundary of a bool patch region (upsampled to ``size`` pixels) on a matplotlib axis."""
    from skimage.measure import find_contours

    mask = upsample(region.float(), size) if size else region.float()
    padded = torch.nn.functional.pad(mask, (1, 1, 1, 1)).numpy()
    for contour in find_contours(padded, 0.5):
        ax.plot(contour[:, 1] - 1, contour[:, 0] - 1, color=color, linewidth=1.2)
