"""Per-patch maps from recorded attention: CLS attention with its 50%-mass region, reversed
attention, and patch labels from segmentation masks.

:func:`run_attention_maps` is ``tools/analysis/attention_maps.py`` and
:func:`run_reversed_attention` is ``tools/analysis/reversed_attention.py``.
"""
import json
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch

from .attention import AttentionRecorder
from .common import (ToolInputError, check_model_inputs, check_outputs, image_batches, list_images,
                     load_encoder, unmasked_forward)


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


def run_attention_maps(config: str, checkpoint: str, images: str, out_dir: Union[str, Path],
                       num_images: int = 4, mass: float = 0.5, force: bool = False) -> List[Path]:
    """Class-token attention maps of the last block, per head and head-averaged, with their
    ``mass`` region outlined, one row per image.

    Writes ``attention_maps.png`` (column 0 the image, then the head average, then each head) and
    ``attention_maps.json`` (images, block, mass, per image and column the fraction of patches in
    the region) into ``out_dir``.

    Args:
        config: An mmpretrain config whose ``model.backbone`` is a ViT.
        checkpoint: Its checkpoint, or ``'none'`` for random initialisation.
        images: Folder of images (searched recursively).
        out_dir: Output folder (created).
        num_images: Use at most this many images (sorted by path).
        mass: Share of each map the outlined region holds, in (0, 1].
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force`` (before any model is loaded).
        ToolInputError: ``mass`` outside (0, 1].
        FileNotFoundError: A missing config, checkpoint or image folder.
        UnsafeCheckpointError, CheckpointMismatchError: See :func:`load_encoder`.
    """
    from .plots import plt, save_figure  # matplotlib with the headless Agg backend

    from .reconstruction import to_image

    out = Path(out_dir)
    png_path, json_path = check_outputs([out / 'attention_maps.png', out / 'attention_maps.json'],
                                        force)
    if not 0 < mass <= 1:
        raise ToolInputError(f'mass={mass}: must be in (0, 1]')
    check_model_inputs([(config, checkpoint)])
    paths = list_images(images, num_images)
    backbone, pre = load_encoder(config, checkpoint)
    size, grid = backbone.img_size, tuple(backbone.patch_resolution)
    last = len(backbone.layers) - 1
    batches, maps = [], []
    with torch.no_grad(), AttentionRecorder(backbone, [last]) as recorder:
        for batch in image_batches(paths, size[0], pre['mean'], pre['std'], 8):
            unmasked_forward(backbone, batch)
            batches.append(batch)
            maps.append(cls_attention(recorder.weights[last], grid))
    pixels, maps = torch.cat(batches), torch.cat(maps)  # (B, 3, H, W), (B, heads, h, w)
    all_maps = torch.cat([maps.mean(dim=1, keepdim=True), maps], dim=1)  # column 0: head average
    regions = mass_region(all_maps, mass)
    cols = all_maps.shape[1] + 1
    fig, axes = plt.subplots(len(paths), cols, figsize=(1.6 * cols, 1.6 * len(paths)), squeeze=False)
    for b in range(len(paths)):
        axes[b, 0].imshow(to_image(pixels[b], pre['mean'], pre['std']))
        for c in range(all_maps.shape[1]):
            ax = axes[b, c + 1]
            ax.imshow(upsample(all_maps[b, c], size).numpy(), cmap='inferno')
            draw_region_contour(ax, regions[b, c], size=size)
            if b == 0:
                ax.set_title('mean' if c == 0 else f'head {c - 1}', fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, png_path)
    summary = dict(images=[str(p) for p in paths], block=last, mass=mass,
                   region_fraction=regions.float().mean(dim=(-2, -1)).tolist(),
                   columns=['mean'] + [f'head {h}' for h in range(maps.shape[1])])
    json_path.write_text(json.dumps(summary, indent=1))
    return [png_path, json_path]


def run_reversed_attention(config: str, checkpoint: str, image: str, layer: int,
                           out_dir: Union[str, Path], patches: Optional[Sequence[int]] = None,
                           shot: Optional[int] = None, seed: int = 0, max_patches: int = 6,
                           force: bool = False) -> List[Path]:
    """Reversed attention maps of chosen patches in one block, on one full unmasked image.

    The patches are ``patches`` (row-major indices) or, with ``shot``, those a Conditional MAE
    schedule removes at that shot in one draw of its masking seeded with ``seed``; at most
    ``max_patches`` of them. Writes ``reversed_attention.png`` (the image, then one overlay per
    patch, its square outlined) and ``reversed_attention.json`` (the settings, the patches and their
    maps) into ``out_dir``.

    Args:
        config: An mmpretrain config whose ``model.backbone`` is a ViT (a ``CMAEViT`` for ``shot``).
        checkpoint: Its checkpoint, or ``'none'`` for random initialisation.
        image: The image file.
        layer: Block index (0-based).
        out_dir: Output folder (created).
        patches: Patch indices; exactly one of ``patches`` and ``shot``.
        shot: Shot number (1-based).
        seed: Seed of the masking draw for ``shot``.
        max_patches: Show at most this many patches.
        force: Overwrite existing output files.

    Returns:
        The PNG and the JSON path.

    Raises:
        FileExistsError: An output exists and not ``force`` (before any model is loaded).
        ToolInputError: Both or neither of ``patches`` and ``shot``; a layer, patch or shot the
            model does not have; a shot that removed no patch.
        FileNotFoundError: A missing config, checkpoint or image.
        UnsafeCheckpointError, CheckpointMismatchError: See :func:`load_encoder`.
    """
    from .plots import plt, save_figure  # matplotlib with the headless Agg backend

    from .reconstruction import to_image

    out = Path(out_dir)
    png_path, json_path = check_outputs(
        [out / 'reversed_attention.png', out / 'reversed_attention.json'], force)
    if (patches is None) == (shot is None):
        raise ToolInputError('give either patches or a shot')
    if max_patches < 1:
        raise ToolInputError(f'max_patches={max_patches}: must be at least 1')
    check_model_inputs([(config, checkpoint)])
    if not Path(image).is_file():
        raise FileNotFoundError(f'image not found: {image}')
    backbone, pre = load_encoder(config, checkpoint)
    if not 0 <= layer < len(backbone.layers):
        raise ToolInputError(f'layer {layer}: must be in [0, {len(backbone.layers) - 1}]')
    size, grid = backbone.img_size, tuple(backbone.patch_resolution)
    num_patches = grid[0] * grid[1]
    pixels = next(image_batches([Path(image)], size[0], pre['mean'], pre['std'], 1))
    with torch.no_grad():
        if shot is not None:
            schedule = getattr(backbone, 'schedule', None)
            if schedule is None or not 1 <= shot <= schedule.num_shots:
                raise ToolInputError(f'shot {shot}: the model has '
                                     f'{schedule.num_shots if schedule else 0} shots '
                                     '(a CMAEViT schedule)')
            torch.manual_seed(seed)
            shot_index = backbone(pixels)[1][0]
            patches = torch.nonzero(shot_index == shot).flatten().tolist()
            if not patches:
                raise ToolInputError(f'shot {shot} removed no patch in the draw of seed {seed}')
        bad = [j for j in patches if not 0 <= j < num_patches]
        if bad:
            raise ToolInputError(f'patches {bad}: must be in [0, {num_patches - 1}]')
        patches = list(patches)[:max_patches]
        with AttentionRecorder(backbone, [layer]) as recorder:
            unmasked_forward(backbone, pixels)
        maps = torch.stack([reversed_attention(recorder.weights[layer], j, grid)[0]
                            for j in patches])
    fig, axes = plt.subplots(1, len(patches) + 1, figsize=(2 * (len(patches) + 1), 2.2), squeeze=False)
    axes[0, 0].imshow(to_image(pixels[0], pre['mean'], pre['std']))
    axes[0, 0].set_title('image', fontsize=8)
    p = size[0] // grid[0]
    for ax, j, m in zip(axes[0, 1:], patches, maps):
        ax.imshow(to_image(pixels[0], pre['mean'], pre['std']))
        ax.imshow(upsample(m, size).numpy(), cmap='jet', alpha=0.55)
        row, col = divmod(j, grid[1])
        ax.add_patch(plt.Rectangle((col * p - 0.5, row * p - 0.5), p, p, fill=False, color='white'))
        ax.set_title(f'patch {j}', fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f'reversed attention, block {layer}', fontsize=9)
    save_figure(fig, png_path)
    json_path.write_text(json.dumps(dict(
        image=str(image), layer=layer, shot=shot, seed=seed, patches=patches,
        maps=maps.tolist()), indent=1))
    return [png_path, json_path]
