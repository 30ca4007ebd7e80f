"""Datasets a study can write before it starts (``prepare:`` in a study file).

Every preparer is registered by name in :data:`PREPARERS` and called as
``fn(root=<path>, **options)``; it must be idempotent (a dataset already on disk is kept).
"""
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np


def write_digits(data_root: Path, size: int, seed: int = 0,
                 max_per_class: Optional[int] = None) -> Tuple[int, int]:
    """Write scikit-learn's digits as RGB PNGs in mmpretrain's folder layout.

    ``<data_root>/{train,val}/<digit>/<index>.png``: 1,797 real 8x8 scans upsampled (bicubic) to
    ``size`` x ``size``, split 80/20, stratified by digit.

    Args:
        data_root: Folder to write into.
        size: Side of the written images in pixels.
        seed: Seed of the train/val split.
        max_per_class: Keep at most this many images per digit and split (None: all), for tiny
            test datasets.

    Returns:
        Tuple[int, int]: The number of train and val images written.
    """
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    idx_train, idx_val = train_test_split(
        np.arange(len(digits.target)), test_size=0.2, stratify=digits.target, random_state=seed)
    counts = []
    for split, indices in (('train', idx_train), ('val', idx_val)):
        per_class: Dict[int, int] = {}
        for i in indices:
            label = int(digits.target[i])
            if max_per_class is not None and per_class.get(label, 0) >= max_per_class:
                continue
            per_class[label] = per_class.get(label, 0) + 1
            folder = Path(data_root) / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (digits.images[i] / 16. * 255).astype(np.uint8)  # values 0..16
            Image.fromarray(pixels).resize((size, size), Image.BICUBIC).convert('RGB').save(
                folder / f'{i:04d}.png')
        counts.append(sum(per_class.values()))
    return counts[0], counts[1]


#: Images per split of :func:`write_digits` with every image (80/20 stratified split of 1,797).
DIGITS_COUNTS = {'train': 1437, 'val': 360}
#: Written last into a complete digits dataset: its presence is what "prepared" means.
DONE_MARKER = '.complete'


def _count_images(root: Path) -> Dict[str, int]:
    return {split: len(list((root / split).glob('*/*.png'))) for split in DIGITS_COUNTS}


def prepare_digits(root: str, size: int = 32, seed: int = 0) -> str:
    """Write the digits dataset to ``root`` unless a complete one is there.

    The images are written into a temporary sibling folder, counted (1,437 train / 360 val), then
    the folder is renamed to ``root`` with a completion marker, so an interrupted preparation
    never leaves a partial dataset that a later call would keep.

    Args:
        root: Dataset folder.
        size: Image side in pixels (32 for ``cmae_vit-tiny-p4_digits_demo.py``).
        seed: Seed of the train/val split.

    Returns:
        str: What was done, for the progress output.

    Raises:
        FileExistsError: ``root`` exists but is not a complete digits dataset (it is left as is).
        RuntimeError: The written counts are not the expected ones.

    A folder with the full counts is kept (and marked) whether or not it has the marker.
    """
    import shutil
    import tempfile

    path = Path(root)
    if path.is_dir() and _count_images(path) == DIGITS_COUNTS:
        if not (path / DONE_MARKER).is_file():  # complete, from before the marker existed
            (path / DONE_MARKER).write_text('counted complete\n')
        return f'digits: kept the dataset in {root}'
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f'{root} exists but is not a complete digits dataset (expected '
                              f'{DIGITS_COUNTS} images and {DONE_MARKER}); move it away and '
                              'prepare again')
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', suffix='.part', dir=path.parent))
    try:
        n_train, n_val = write_digits(tmp, size, seed)
        counts = _count_images(tmp)
        if counts != DIGITS_COUNTS:
            raise RuntimeError(f'digits: wrote {counts} images, expected {DIGITS_COUNTS}')
        (tmp / DONE_MARKER).write_text(f'{n_train} train / {n_val} val, {size} px, seed {seed}\n')
        if path.exists():
            path.rmdir()  # empty (checked above)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return f'digits: wrote {n_train} train / {n_val} val images to {root}'


def prepare_fashion_mnist(root: str = 'data/fashion_mnist', source: Optional[str] = None) -> str:
    """Write Fashion-MNIST's extracted idx files to ``root`` (see
    :func:`cmae_mm.datasets.fashion_mnist.prepare_fashion_mnist`; kept when they check out)."""
    from ..datasets.fashion_mnist import prepare_fashion_mnist as prepare

    return prepare(root, source)


PREPARERS: Dict[str, Callable[..., str]] = {'digits': prepare_digits,
                                           'fashion_mnist': prepare_fashion_mnist}
