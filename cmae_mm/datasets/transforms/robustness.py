"""Patch-level robustness perturbations for the test pipeline (paper Tab. 9).

Following iBOT / Naseer et al. (2021, "Intriguing properties of vision transformers"), a test image
is cut into a grid of ``patch_size`` x ``patch_size`` cells and either

* **occluded** (:class:`PatchOcclusion`): a random ``ratio`` of the cells is set to the mean colour,
  i.e. to 0 after the data preprocessor's normalisation; or
* **shuffled** (:class:`PatchShuffle`): the cells are randomly permuted.

Both transforms go into a TEST pipeline after resize/crop and before ``PackInputs``
(:func:`cmae_mm.evaluation.add_perturbation` puts them there) and act on ``results['img']``, a (H, W, C) array.

Randomness is deterministic per sample and independent of batch composition, worker count and
iteration order: each call draws from ``numpy.random.default_rng([seed, results['sample_idx']])``
(mmengine's ``BaseDataset.get_data_info`` sets ``sample_idx``, the index in the dataset).
"""
import math
from typing import Dict, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

# mmpretrain's ImageNet normaliser mean in RGB order (ClsDataPreprocessor mean with to_rgb=True).
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
CHANNEL_ORDERS = ('bgr', 'rgb')


def sample_rng(seed: int, results: dict, name: str) -> np.random.Generator:
    """The per-sample generator ``default_rng([seed, results['sample_idx']])``.

    Args:
        seed (int): Non-negative base seed of the transform.
        results (dict): Pipeline results; must hold a non-negative integer ``'sample_idx'``.
        name (str): Transform name, for error messages.

    Returns:
        np.random.Generator: Same stream for the same (seed, sample_idx), whatever the batch/worker.

    Raises:
        KeyError: If ``results`` has no ``'sample_idx'``.
        ValueError: If ``sample_idx`` is not a non-negative integer.
    """
    if 'sample_idx' not in results:
        raise KeyError(f"{name} needs results['sample_idx'] to seed its per-sample randomness (mmengine's "
                       f'BaseDataset.get_data_info adds it); got keys {sorted(results)}')
    idx = results['sample_idx']
    if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or idx < 0:
        raise ValueError(f"{name}: results['sample_idx'] must be a non-negative int, got {idx!r}")
    return np.random.default_rng([seed, int(idx)])


def check_grid(img: np.ndarray, patch_size: int, name: str) -> Tuple[int, int]:
    """Patch-grid shape of an (H, W) or (H, W, C) image whose sides are multiples of ``patch_size``.

    Args:
        img (np.ndarray): The image, shape (H, W) or (H, W, C).
        patch_size (int): Cell side in pixels.
        name (str): Transform name, for error messages.

    Returns:
        tuple[int, int]: ``(H // patch_size, W // patch_size)``.

    Raises:
        ValueError: If ``img`` is not 2-D/3-D or H or W is not a multiple of ``patch_size``.
    """
    if img.ndim not in (2, 3):
        raise ValueError(f'{name} expects an (H, W) or (H, W, C) image, got shape {img.shape}')
    h, w = img.shape[:2]
    if h % patch_size or w % patch_size:
        raise ValueError(f'{name}: image size {h}x{w} (HxW) is not divisible by patch_size={patch_size}; '
                         'resize/crop to a multiple of the patch size before this transform')
    return h // patch_size, w // patch_size


def to_cells(img: np.ndarray, patch_size: int) -> np.ndarray:
    """(H, W[, C]) image -> (gh * gw, p, p[, C]) cells in row-major grid order (a copy)."""
    gh, gw = img.shape[0] // patch_size, img.shape[1] // patch_size
    tail = img.shape[2:]
    grid = img.reshape(gh, patch_size, gw, patch_size, *tail).swapaxes(1, 2)
    return grid.reshape(gh * gw, patch_size, patch_size, *tail).copy()


def from_cells(cells: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`to_cells`: (gh * gw, p, p[, C]) cells -> (gh * p, gw * p[, C]) image."""
    (gh, gw), p, tail = grid, cells.shape[1], cells.shape[3:]
    img = cells.reshape(gh, gw, p, p, *tail).swapaxes(1, 2)
    return np.ascontiguousarray(img.reshape(gh * p, gw * p, *tail))


def check_patch_size(patch_size: int, name: str) -> int:
    """``patch_size`` must be a positive int."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise ValueError(f'{name}: patch_size must be a positive int, got {patch_size!r}')
    return int(patch_size)


def check_seed(seed: int, name: str) -> int:
    """``seed`` must be a non-negative int (numpy SeedSequence entropy)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'{name}: seed must be a non-negative int, got {seed!r}')
    return int(seed)


@TRANSFORMS.register_module()
class PatchOcclusion(BaseTransform):
    """Set a random ``ratio`` of the patch-grid cells to the mean colour ("random patch drop").

    Exactly ``floor(ratio * N + 0.5)`` of the ``N = (H / p) * (W / p)`` cells are chosen (without
    replacement) and filled; all other pixels are untouched. Keys modified: ``img``.

    Fill colour and channel order (chosen so the default is right for mmcv-loaded images): ``fill``
    is ALWAYS given in RGB order, like mmpretrain's ``data_preprocessor.mean``; ``channel_order`` is
    the channel order of ``results['img']``, ``'bgr'`` for mmcv's ``LoadImageFromFile`` (the
    default), and the fill is reversed to match. With the defaults an occluded pixel is the
    ImageNet mean, so it becomes 0 after ``ClsDataPreprocessor(mean=IMAGENET_MEAN_RGB, to_rgb=True)``
    (up to rounding to uint8: at most 0.5 / std ~ 0.01). :func:`add_perturbation` derives both from the
    config's data preprocessor.

    Args:
        ratio (float): Fraction of cells occluded, in [0, 1]. Defaults to 0.5.
        patch_size (int): Cell side in pixels; H and W must be multiples of it. Defaults to 16.
        fill (Sequence[float]): Fill colour, 3 values in RGB order (0-255 scale) for colour
            images, or 1 value for grayscale images ((H, W) or (H, W, 1), e.g. Fashion-MNIST).
            Defaults to :data:`IMAGENET_MEAN_RGB`.
        channel_order (str): Channel order of ``results['img']``: ``'bgr'`` (mmcv's default
            loading) or ``'rgb'``. Defaults to ``'bgr'``.
        seed (int): Base seed; the cells of a sample depend only on (seed, sample_idx). Defaults to 0.
    """

    def __init__(self, ratio: float = 0.5, patch_size: int = 16,
                 fill: Sequence[float] = IMAGENET_MEAN_RGB, channel_order: str = 'bgr', seed: int = 0):
        name = type(self).__name__
        numeric = isinstance(ratio, (int, float, np.integer, np.floating)) and not isinstance(ratio, bool)
        if not numeric or not 0 <= ratio <= 1:
            raise ValueError(f'{name}: ratio must be a number in [0, 1], got {ratio!r}')
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f'{name}: channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}')
        fill_arr = np.asarray(fill, dtype=np.float64)
        if fill_arr.shape not in ((1, ), (3, )) or not np.all(np.isfinite(fill_arr)):
            raise ValueError(f'{name}: fill must be 3 finite numbers in RGB order (colour images) '
                             f'or 1 (grayscale), got {fill!r}')
        self.ratio = float(ratio)
        self.patch_size = check_patch_size(patch_size, name)
        self.fill = tuple(float(v) for v in fill_arr)
        self.channel_order = channel_order
        self.seed = check_seed(seed, name)

    def num_occluded(self, num_patches: int) -> int:
        """Number of cells occluded out of ``num_patches``: ``ratio * num_patches`` rounded half up."""
        return int(math.floor(self.ratio * num_patches + 0.5))

    def fill_value(self, dtype: np.dtype) -> np.ndarray:
        """The fill in the image's channel order and dtype, shape (3,) or (1,) (integers: rounded,
        clipped)."""
        fill = np.asarray(self.fill[::-1] if self.channel_order == 'bgr' else self.fill)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            fill = np.clip(np.round(fill), info.min, info.max)
        return fill.astype(dtype)

    def occluded_cells(self, num_patches: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted row-major indices of the cells to occlude, shape (num_occluded,)."""
        return np.sort(rng.choice(num_patches, size=self.num_occluded(num_patches), replace=False))

    def transform(self, results: Dict) -> Dict:
        """Occlude ``results['img']``, returning a new array of the same shape and dtype.

        Args:
            results (dict): Must hold ``img`` ((H, W, 3) with a 3-value ``fill``; (H, W) or
                (H, W, 1) with a 1-value ``fill``) and ``sample_idx`` (int).

        Returns:
            dict: ``results`` with the occluded ``img``.
        """
        name = type(self).__name__
        img = results['img']
        channels = 1 if img.ndim == 2 else img.shape[2] if img.ndim == 3 else None
        if channels != len(self.fill):
            kind = 'an (H, W, 3) colour image' if len(self.fill) == 3 else \
                'an (H, W) or (H, W, 1) grayscale image'
            raise ValueError(f'{name} with fill={self.fill} expects {kind}, got shape '
                             f'{img.shape}')
        grid = check_grid(img, self.patch_size, name)
        cells = to_cells(img, self.patch_size)
        chosen = self.occluded_cells(len(cells), sample_rng(self.seed, results, name))
        fill = self.fill_value(img.dtype)
        cells[chosen] = fill if img.ndim == 3 else fill[0]
        results['img'] = from_cells(cells, grid)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratio={self.ratio}, patch_size={self.patch_size}, '
                f'fill={self.fill}{" (RGB)" if len(self.fill) == 3 else ""}, channel_order={self.channel_order!r}, seed={self.seed})')


@TRANSFORMS.register_module()
class PatchShuffle(BaseTransform):
    """Randomly permute the cells of the ``patch_size`` patch grid. Keys modified: ``img``.

    Args:
        patch_size (int): Cell side in pixels; H and W must be multiples of it. Defaults to 16.
        seed (int): Base seed; the permutation of a sample depends only on (seed, sample_idx).
            Defaults to 0.
    """

    def __init__(self, patch_size: int = 16, seed: int = 0):
        name = type(self).__name__
        self.patch_size = check_patch_size(patch_size, name)
        self.seed = check_seed(seed, name)

    def permutation(self, num_patches: int, rng: np.random.Generator) -> np.ndarray:
        """Source cell of each output cell (row-major), shape (num_patches,)."""
        return rng.permutation(num_patches)

    def transform(self, results: Dict) -> Dict:
        """Shuffle the cells of ``results['img']`` (H, W) or (H, W, C); same shape and dtype.

        Args:
            results (dict): Must hold ``img`` and ``sample_idx`` (int).

        Returns:
            dict: ``results`` with the shuffled ``img``.
        """
        name = type(self).__name__
        img = results['img']
        grid = check_grid(img, self.patch_size, name)
        cells = to_cells(img, self.patch_size)
        perm = self.permutation(len(cells), sample_rng(self.seed, results, name))
        results['img'] = from_cells(cells[perm], grid)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(patch_size={self.patch_size}, seed={self.seed})'
