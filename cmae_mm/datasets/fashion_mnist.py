"""Fashion-MNIST on disk for mmpretrain's ``FashionMNIST`` (extracted idx files), written safely.

Fashion-MNIST (Zalando, MIT licence): 60,000 training and 10,000 test images, 28x28 grayscale,
10 classes, 6,000 / 1,000 per class. mmpretrain's ``FashionMNIST(data_root=..., download=False)``
reads the four *extracted* idx files from ``data_root``. :func:`prepare_fashion_mnist` writes them
from either source:

* a folder holding the four official ``*-idx*-ubyte.gz`` files (Zalando's distribution), or
* Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/`` when it is
  installed; otherwise ``apt-get download`` + ``dpkg-deb -x`` into a temporary folder, which needs
  no installation and no root, only readable package lists).

Every file is decompressed to a temporary name in the target folder, checked (idx header, image
size, counts, labels per class, and the MD5 of the decompressed bytes, identical for both
sources), ``fsync``-ed and renamed into place, so an interrupted run never leaves a file that
passes for a good one; a re-run keeps files that already check out.
"""
import gzip
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from mmpretrain.datasets import FashionMNIST
from mmpretrain.registry import DATASETS

from ..engine.atomic_io import atomic_write_bytes

__all__ = ['DEBIAN_DIR', 'DEBIAN_PACKAGE', 'FASHION_MNIST_FILES', 'FashionMNISTLabelSubset',
           'FashionMNISTSourceError', 'VAL_SEED', 'VAL_SPLIT_FILE', 'balanced_subset',
           'check_idx_file', 'prepare_fashion_mnist', 'validation_indices',
           'write_validation_record']

DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = Path('/usr/share/datasets/fashion-mnist')
#: Extracted file name -> (number of items, MD5 of the decompressed bytes). The MD5s are those of
#: the decompressed official files (the same for Zalando's ``.gz`` files and Debian's
#: re-compressed ones, whose ``.gz`` checksums differ).
FASHION_MNIST_FILES: Dict[str, Tuple[int, str]] = {
    'train-images-idx3-ubyte': (60000, 'f4a8712d7a061bf5bd6d2ca38dc4d50a'),
    'train-labels-idx1-ubyte': (60000, '9018921c3c673c538a1fc5bad174d6f9'),
    't10k-images-idx3-ubyte': (10000, '8181f5470baa50b63fa0f6fddb340f0a'),
    't10k-labels-idx1-ubyte': (10000, '15d484375f8d13e6eb1aabb0c3f46965'),
}
NUM_CLASSES = 10
IMAGE_SIDE = 28
#: The validation split: a sixth of every class of the *training* images (1,000 per class, 10,000
#: in all, on the official data), drawn once with this seed. Labelled fine-tuning subsets are drawn
#: from the other five sixths, so no recipe choice ever reads a test image.
VAL_SEED = 20261207
VAL_FRACTION_DIVISOR = 6
#: The record of the split that :func:`prepare_fashion_mnist` writes next to the idx files.
VAL_SPLIT_FILE = 'val_split.json'
#: The parts of the training images :class:`FashionMNISTLabelSubset` can read.
PARTS = ('all', 'train', 'val')


class FashionMNISTSourceError(FileNotFoundError):
    """Neither source of Fashion-MNIST is available; the message says both ways to get it."""


def _how_to_get(root: Union[str, Path]) -> str:
    return (f'Fashion-MNIST: no source found. Either put the four official *-idx*-ubyte.gz files '
            f'(https://github.com/zalandoresearch/fashion-mnist) in a folder and run '
            f'`python tools/dataset_converters/prepare_fashion_mnist.py --source <folder> '
            f'--out {root}`, or make Debian\'s package {DEBIAN_PACKAGE} reachable '
            f'(`apt-get update`; the tool then fetches it with `apt-get download`).')


def check_idx_file(data: bytes, name: str, md5: Optional[str] = None) -> None:
    """Check the decompressed bytes of one Fashion-MNIST idx file.

    Args:
        data: The decompressed file.
        name: Its extracted name, a key of :data:`FASHION_MNIST_FILES`.
        md5: Expected MD5 of ``data``; None: the one in :data:`FASHION_MNIST_FILES`; ``''``: no
            checksum (tests write small files of their own).

    Raises:
        ValueError: Naming the file and the first check that failed.
    """
    count = FASHION_MNIST_FILES[name][0] if md5 is None else None
    images = 'images' in name
    dims = 3 if images else 1
    if len(data) < 4 + 4 * dims:
        raise ValueError(f'{name}: {len(data)} bytes, too short for an idx header')
    magic = int.from_bytes(data[:4], 'big')
    if magic != 0x800 + dims:
        raise ValueError(f'{name}: idx magic {magic:#x}, expected {0x800 + dims:#x} '
                         f'(unsigned bytes, {dims} dimension(s))')
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    if images and shape[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
        raise ValueError(f'{name}: images of {shape[1]}x{shape[2]}, expected 28x28')
    if count is not None and shape[0] != count:
        raise ValueError(f'{name}: {shape[0]} items, expected {count}')
    body = len(data) - 4 - 4 * dims
    if body != int(np.prod(shape)):
        raise ValueError(f'{name}: {body} data bytes for shape {shape} (truncated or padded)')
    if not images:
        labels = np.frombuffer(data, np.uint8, offset=8)
        if labels.max(initial=0) >= NUM_CLASSES:
            raise ValueError(f'{name}: label {labels.max()} outside 0..9')
        per_class = np.bincount(labels, minlength=NUM_CLASSES)
        if count is not None and not (per_class == count // NUM_CLASSES).all():
            raise ValueError(f'{name}: labels per class {per_class.tolist()}, expected '
                             f'{count // NUM_CLASSES} each')
    expected = FASHION_MNIST_FILES[name][1] if md5 is None else md5
    if expected and hashlib.md5(data).hexdigest() != expected:
        raise ValueError(f'{name}: MD5 {hashlib.md5(data).hexdigest()} of the decompressed file, '
                         f'expected {expected}')


def _debian_files(tmp: Path) -> Optional[Path]:
    """The folder of Debian's ``.gz`` files: installed, or downloaded and unpacked into ``tmp``."""
    if all((DEBIAN_DIR / f'{n}.gz').is_file() for n in FASHION_MNIST_FILES):
        return DEBIAN_DIR
    if shutil.which('apt-get') is None or shutil.which('dpkg-deb') is None:
        return None
    got = subprocess.run(['apt-get', 'download', DEBIAN_PACKAGE], cwd=tmp, capture_output=True,
                         text=True)
    debs = sorted(tmp.glob(f'{DEBIAN_PACKAGE}_*.deb'))
    if got.returncode != 0 or not debs:
        return None
    subprocess.run(['dpkg-deb', '-x', str(debs[-1]), str(tmp / 'x')], check=True)
    folder = tmp / 'x' / DEBIAN_DIR.relative_to('/')
    return folder if all((folder / f'{n}.gz').is_file() for n in FASHION_MNIST_FILES) else None


def _write_checked(gz: Path, target: Path, md5: Optional[str]) -> None:
    """Decompress ``gz``, check it, write ``target`` atomically (temp file, fsync, rename)."""
    with gzip.open(gz, 'rb') as f:
        data = f.read()
    try:
        check_idx_file(data, target.name, md5)
    except ValueError as e:
        raise ValueError(f'{gz}: {e}') from None
    atomic_write_bytes(data, target)


def _is_good(path: Path, md5: Optional[str]) -> bool:
    if not path.is_file():
        return False
    try:
        check_idx_file(path.read_bytes(), path.name, md5)
    except ValueError:
        return False
    return True


def prepare_fashion_mnist(root: str = 'data/fashion_mnist', source: Optional[str] = None,
                          verify_md5: bool = True) -> str:
    """Write the four extracted Fashion-MNIST idx files to ``root`` (a no-op when they check out).

    Args:
        root: Output folder (mmpretrain's ``FashionMNIST`` ``data_root``).
        source: Folder with the four official ``.gz`` files; None: Debian's package.
        verify_md5: Check the MD5 of each decompressed file (and the official counts). False
            checks only the idx structure, for small files a test writes.

    Returns:
        str: What was done, for progress output.

    Raises:
        FashionMNISTSourceError: No source (the message gives both ways to get the data).
        ValueError: A source file fails a check (the message names it).
    """
    out = Path(root)
    md5 = None if verify_md5 else ''
    names: List[str] = list(FASHION_MNIST_FILES)
    todo = [n for n in names if not _is_good(out / n, md5)]
    if not todo:
        if not (out / VAL_SPLIT_FILE).is_file():  # data prepared before the split existed
            write_validation_record(out)
        return f'fashion_mnist: kept the 4 checked files and {VAL_SPLIT_FILE} in {root}'
    with tempfile.TemporaryDirectory(prefix='fmnist-') as tmp:
        if source is not None:
            folder = Path(source)
            missing = [f'{n}.gz' for n in todo if not (folder / f'{n}.gz').is_file()]
            if missing:
                raise FashionMNISTSourceError(f'{source}: missing {", ".join(missing)}. '
                                              + _how_to_get(root))
            origin = str(source)
        else:
            folder = _debian_files(Path(tmp))
            if folder is None:
                raise FashionMNISTSourceError(_how_to_get(root))
            origin = f'Debian package {DEBIAN_PACKAGE}'
        out.mkdir(parents=True, exist_ok=True)
        for name in todo:
            _write_checked(folder / f'{name}.gz', out / name, md5)
    write_validation_record(out)
    return (f'fashion_mnist: wrote {len(todo)} checked file(s) to {root} from {origin} '
            f'(kept {len(names) - len(todo)}) and the validation split {VAL_SPLIT_FILE}')


def _train_labels(root: Path) -> np.ndarray:
    data = (Path(root) / 'train-labels-idx1-ubyte').read_bytes()
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def validation_indices(labels: np.ndarray, seed: int = VAL_SEED) -> np.ndarray:
    """The held-out validation images of the training split: a seeded sixth of every class.

    Args:
        labels: (N,) labels of the training images.
        seed: Seed of the draw (the suite's split uses :data:`VAL_SEED`).

    Returns:
        np.ndarray: (V,) sorted indices; ``max(1, n_c // 6)`` of each class ``c`` (1,000 per class
        on the official 60,000 images).
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, max(1, len(members) // VAL_FRACTION_DIVISOR),
                                  replace=False))
    return np.sort(np.concatenate(chosen))


def _split_sha1(indices: np.ndarray) -> str:
    """The SHA-1 of a split's sorted indices (as little-endian int64), as recorded."""
    return hashlib.sha1(indices.astype('<i8').tobytes()).hexdigest()


def _split_record(labels: np.ndarray) -> dict:
    indices = validation_indices(labels)
    return dict(seed=VAL_SEED, fraction=f'1/{VAL_FRACTION_DIVISOR} of every class',
                train_images=int(len(labels)), val_images=int(len(indices)),
                val_per_class=np.bincount(labels[indices], minlength=NUM_CLASSES).tolist(),
                sha1=_split_sha1(indices),
                indices=indices.tolist())


def write_validation_record(root: Union[str, Path]) -> Path:
    """Record the validation split of the prepared training images in ``root/val_split.json``.

    The split is a function of the labels and :data:`VAL_SEED`; the record (seed, counts, SHA-1
    and the indices) says which images it holds, so that a changed data folder or a changed draw
    is detected by :class:`FashionMNISTLabelSubset` instead of silently moving images between
    the labelled subsets and the validation set.

    Args:
        root: The prepared data folder.

    Returns:
        Path: The record.
    """
    import json

    path = Path(root) / VAL_SPLIT_FILE
    record = _split_record(_train_labels(Path(root)))
    atomic_write_bytes((json.dumps(record) + '\n').encode(), path)
    return path


def _checked_validation_indices(root: Path, labels: np.ndarray) -> np.ndarray:
    """:func:`validation_indices`, checked against ``root/val_split.json`` when it exists."""
    import json

    indices = validation_indices(labels)
    path = Path(root) / VAL_SPLIT_FILE
    if path.is_file():
        recorded = json.loads(path.read_text())
        sha1 = _split_sha1(indices)
        if recorded.get('sha1') != sha1 or recorded.get('train_images') != len(labels):
            raise ValueError(
                f'{path}: the recorded validation split (sha1 {recorded.get("sha1")}, '
                f'{recorded.get("train_images")} training images) differs from the one drawn now '
                f'(sha1 {sha1}, {len(labels)} images); the data changed: prepare it again with '
                'tools/dataset_converters/prepare_fashion_mnist.py')
    return indices


def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of a seeded subset with ``per_class`` items of every class, in dataset order.

    Args:
        labels: (N,) integer labels.
        per_class: Items drawn (without replacement) from each class.
        seed: Seed of the draw: the same seed gives the same subset on every machine.

    Returns:
        np.ndarray: (C * per_class,) sorted indices.

    Raises:
        ValueError: If a class has fewer than ``per_class`` items (naming it and its count).
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f'labels_per_class={per_class}: class {c} has only {len(members)} '
                             f'items; allowed: 1..{len(members)} or None (all)')
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


@DATASETS.register_module()
class FashionMNISTLabelSubset(FashionMNIST):
    """mmpretrain's ``FashionMNIST`` restricted to a balanced, seeded subset of labelled images.

    For low-label fine-tuning: ``labels_per_class=100`` keeps 1,000 training images (100 per
    class, drawn with ``subset_seed``); None keeps every image, so the full 60,000 and a low-
    label regime are one option apart. ``part`` splits the training images into the labelled
    pool and the held-out validation set (:func:`validation_indices`): recipes are chosen on
    ``part='val'``, and the labelled subsets come from ``part='train'``, disjoint from it.

    Args:
        labels_per_class (int, optional): Images kept per class. Defaults to None (all).
        subset_seed (int): Seed of the draw (:func:`balanced_subset`). Defaults to 0.
        part (str): Of the training images (``test_mode=False``): ``'all'`` (60,000),
            ``'train'`` (the 50,000 outside the validation split) or ``'val'`` (the 10,000 of
            it). The test images have only ``'all'``. Defaults to ``'all'``.
        **kwargs: Arguments of ``FashionMNIST`` (``data_root``, ``data_prefix``,
            ``test_mode``, ``download``, ``pipeline``, ...).
    """

    def __init__(self, labels_per_class: Optional[int] = None, subset_seed: int = 0,
                 part: str = 'all', **kwargs) -> None:
        if part not in PARTS:
            raise ValueError(f'part={part!r}: allowed: {", ".join(map(repr, PARTS))}')
        if part != 'all' and kwargs.get('test_mode', False):
            raise ValueError(f'part={part!r} needs test_mode=False: the validation split is '
                             "carved from the training images; the test images have only 'all'")
        self.part = part
        if labels_per_class is not None and (
                not isinstance(labels_per_class, int) or isinstance(labels_per_class, bool)
                or labels_per_class < 1):
            raise ValueError(f'labels_per_class={labels_per_class!r}: must be a positive '
                             'integer or None (all images)')
        self.labels_per_class = labels_per_class
        self.subset_seed = subset_seed
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """The full split, its part (:func:`validation_indices`), then the balanced subset."""
        data_list = super().load_data_list()
        if self.part != 'all':
            labels = np.array([int(d['gt_label']) for d in data_list])
            held_out = np.zeros(len(labels), bool)
            held_out[_checked_validation_indices(Path(self.data_root), labels)] = True
            keep = held_out if self.part == 'val' else ~held_out
            data_list = [d for d, k in zip(data_list, keep) if k]
        if self.labels_per_class is None:
            return data_list
        labels = np.array([int(d['gt_label']) for d in data_list])
        return [data_list[i] for i in balanced_subset(labels, self.labels_per_class,
                                                      self.subset_seed)]
