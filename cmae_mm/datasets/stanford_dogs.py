"""Stanford Dogs (Khosla et al., 2011) in its official on-disk layout, for transfer evaluation.

Layout read (as extracted from ``images.tar`` and ``lists.tar``)::

    <data_root>/
    ├── Images/
    │   ├── n02085620-Chihuahua/n02085620_10074.jpg
    │   └── ...                      (120 ``<wnid>-<breed>`` folders)
    └── lists/
        ├── train_list.mat           (12,000 images)
        └── test_list.mat            ( 8,580 images)

Each list file is a MATLAB file with the fields ``file_list`` (N x 1 cell of paths relative to
``Images/``, e.g. ``'n02085620-Chihuahua/n02085620_10074.jpg'``), ``annotation_list`` (N x 1 cell of
bounding-box file stems; not used here) and ``labels`` (N x 1 doubles, 1-based, 1..120).

Class order and names: label ``k`` (1-based in the list files) is the ``k``-th breed folder of
``Images/`` in sorted order (the folders sort by wnid, which is the official label order; every
listed path is checked against it). The class names are the breed part of the folder names, as on
disk (``'n02085620-Chihuahua'`` -> ``'Chihuahua'``, ``'n02085782-Japanese_spaniel'`` ->
``'Japanese_spaniel'``); the full folder names are kept in ``metainfo['folders']``.
"""
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

SPLITS = ('train', 'test')
NUM_CLASSES = 120
_FOLDER = re.compile(r'^(n\d+)-(.+)$')  # '<wnid>-<breed>'


def breed_folders(images_dir: Path) -> List[str]:
    """The ``<wnid>-<breed>`` folders of ``Images/``, sorted (= label order).

    Args:
        images_dir (Path): The ``<data_root>/Images`` directory.

    Returns:
        list[str]: Folder names, e.g. ``['n02085620-Chihuahua', ...]``; other entries are ignored.

    Raises:
        FileNotFoundError: If ``images_dir`` is not a directory or has no breed folder.
    """
    if not images_dir.is_dir():
        raise FileNotFoundError(f'Stanford Dogs image directory not found: {images_dir} '
                                '(expected <data_root>/Images/<wnid>-<breed>/*.jpg)')
    folders = sorted(p.name for p in images_dir.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    if not folders:
        raise FileNotFoundError(f'No <wnid>-<breed> folder (e.g. n02085620-Chihuahua) in {images_dir}')
    return folders


def breed_name(folder: str) -> str:
    """``'n02085620-Chihuahua'`` -> ``'Chihuahua'`` (the breed part of a folder name)."""
    return _FOLDER.match(folder).group(2)


def load_mat_fields(path: Path, fields: Sequence[str]) -> Dict[str, np.ndarray]:
    """Read the named variables of a MATLAB file with :func:`scipy.io.loadmat`.

    Args:
        path (Path): The ``.mat`` file.
        fields (Sequence[str]): Variables that must be present.

    Returns:
        dict[str, np.ndarray]: ``{field: array}`` as returned by ``loadmat`` (cells are object arrays).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a readable MATLAB file or lacks one of ``fields``.
    """
    from scipy.io import loadmat

    if not path.is_file():
        raise FileNotFoundError(f'Stanford Dogs list file not found: {path}')
    try:
        mat = loadmat(str(path))
    except Exception as e:  # scipy raises several types (ValueError, TypeError, MatReadError, ...)
        raise ValueError(f'Cannot read {path} as a MATLAB file: {type(e).__name__}: {e}') from e
    present = sorted(k for k in mat if not k.startswith('__'))
    missing = [f for f in fields if f not in mat]
    if missing:
        raise ValueError(f'{path} lacks the field(s) {missing}; it has {present} '
                         f'(an official Stanford Dogs list has file_list, annotation_list, labels)')
    return {f: mat[f] for f in fields}


def cell_strings(cell: np.ndarray, path: Path, field: str) -> List[str]:
    """Flatten a MATLAB cell array of strings (N x 1 object array of 1-element arrays) to strings.

    Args:
        cell (np.ndarray): The ``loadmat`` value (object array; entries are ``str`` or arrays of one
            string).
        path (Path): The file it came from, for error messages.
        field (str): The field name, for error messages.

    Returns:
        list[str]: The N strings, in file order.

    Raises:
        ValueError: If an entry is not exactly one string.
    """
    out = []
    for i, entry in enumerate(np.asarray(cell, dtype=object).ravel()):
        values = np.asarray(entry).ravel()
        if values.size != 1 or not isinstance(values[0], str):
            raise ValueError(f'{path}: {field}[{i}] should be one string, got {entry!r}')
        out.append(str(values[0]))
    return out


def integer_labels(labels: np.ndarray, path: Path, num_classes: int) -> List[int]:
    """Check 1-based labels (any numeric dtype) and return them as Python ints (still 1-based).

    Args:
        labels (np.ndarray): The ``labels`` field, shape (N, 1) or (N,).
        path (Path): The file it came from, for error messages.
        num_classes (int): Labels must lie in ``1..num_classes``.

    Returns:
        list[int]: The N labels.

    Raises:
        ValueError: If a label is not numeric, not an integer or outside ``1..num_classes``.
    """
    flat = np.asarray(labels).ravel()
    if flat.dtype.kind not in 'iuf':
        raise ValueError(f'{path}: labels should be numeric, got dtype {flat.dtype}')
    for i, value in enumerate(flat):
        if not (np.isfinite(value) and float(value).is_integer() and 1 <= value <= num_classes):
            raise ValueError(f'{path}: labels[{i}] = {value!r} is not an integer in 1..{num_classes} '
                             f'(1-based, one per breed folder)')
    return [int(v) for v in flat]


@DATASETS.register_module()
class StanfordDogs(BaseDataset):
    """The Stanford Dogs dataset (120 breeds) from its official ``Images/`` + ``lists/*.mat`` layout.

    See the module docstring for the layout and the class order / names. Samples are in list-file
    order; ``gt_label`` is 0-based (``labels - 1``).

    Args:
        data_root (str): Dataset root, holding ``Images/`` and ``lists/``.
        split (str): ``'train'`` (``lists/train_list.mat``) or ``'test'`` (``lists/test_list.mat``).
            Defaults to ``'train'``.
        num_classes (int, optional): Expected number of breed folders in ``Images/`` (a partial
            extraction fails early); ``None`` skips the check (tiny test copies). Defaults to 120.
        check_files (bool): Check that every listed image exists. Defaults to True.
        **kwargs: Passed to :class:`mmpretrain.datasets.BaseDataset` (``pipeline``, ``test_mode``
            (defaults to ``split == 'test'``), ``indices``, ``metainfo``, ``classes``, ...);
            ``ann_file`` and ``data_prefix`` are set by this class.

    Raises:
        ValueError: On an unknown split, an unexpected number of breed folders, a malformed list
            file, labels outside ``1..num_classes`` or inconsistent with the listed folder.
        FileNotFoundError: On a missing ``Images/``, list file or listed image.

    Examples:
        >>> ds = DATASETS.build(dict(type='StanfordDogs', data_root='data/StanfordDogs',
        ...                          split='test', pipeline=[dict(type='LoadImageFromFile')]))
        >>> len(ds), ds.metainfo['classes'][0]
        (8580, 'Chihuahua')
    """

    def __init__(self, data_root: str, split: str = 'train', num_classes: Optional[int] = NUM_CLASSES,
                 check_files: bool = True, **kwargs):
        if split not in SPLITS:
            raise ValueError(f'StanfordDogs split must be one of {SPLITS}, got {split!r}')
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise TypeError(f'StanfordDogs sets {key!r} from data_root/split itself; '
                                f'got {key}={kwargs[key]!r}')
        self.split = split
        self.check_files = check_files
        self.folders = breed_folders(Path(data_root) / 'Images')
        if num_classes is not None and len(self.folders) != num_classes:
            raise ValueError(f'{Path(data_root) / "Images"} has {len(self.folders)} breed folders, '
                             f'expected num_classes={num_classes} (incomplete extraction? pass '
                             'num_classes=None to accept any number)')
        kwargs['metainfo'] = self._default_metainfo(kwargs.get('metainfo'), kwargs.get('classes'))
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file=os.path.join('lists', f'{split}_list.mat'), data_root=data_root,
                         data_prefix='Images', **kwargs)

    def _default_metainfo(self, metainfo: Optional[dict], classes) -> dict:
        """Folder-derived ``classes`` and ``folders``, overridden by the user's metainfo/classes."""
        derived = {'folders': tuple(self.folders)}
        if classes is None:
            derived['classes'] = tuple(breed_name(f) for f in self.folders)
        return {**derived, **dict(metainfo or {})}

    def load_data_list(self) -> List[dict]:
        """Read the split's list file into ``[{'img_path': str, 'gt_label': int}, ...]``.

        Returns:
            list[dict]: One entry per listed image, in file order; ``gt_label`` in ``0..C-1``.
        """
        path = Path(self.ann_file)
        mat = load_mat_fields(path, ('file_list', 'labels'))
        files = cell_strings(mat['file_list'], path, 'file_list')
        labels = integer_labels(mat['labels'], path, len(self.folders))
        if len(files) != len(labels):
            raise ValueError(f'{path}: file_list has {len(files)} entries but labels has {len(labels)}')
        self._check_classes()
        data_list = []
        for i, (rel, label) in enumerate(zip(files, labels)):
            folder = rel.replace('\\', '/').split('/')[0]
            if folder != self.folders[label - 1]:
                raise ValueError(f'{path}: entry {i} {rel!r} has label {label}, whose folder is '
                                 f'{self.folders[label - 1]!r} (label k = k-th sorted folder of Images/)')
            data_list.append(dict(img_path=os.path.join(self.img_prefix, rel), gt_label=label - 1))
        if self.check_files:
            self._check_exist(data_list, path)
        return data_list

    def _check_classes(self) -> None:
        """User-given class names must match the number of breed folders."""
        classes = self._metainfo.get('classes')
        if classes is not None and len(classes) != len(self.folders):
            raise ValueError(f'{len(classes)} class names given for {len(self.folders)} breed folders '
                             f'in {self.img_prefix}')

    @staticmethod
    def _check_exist(data_list: List[dict], list_file: Path) -> None:
        """Raise FileNotFoundError naming the listed images missing on disk (first five)."""
        missing = [d['img_path'] for d in data_list if not os.path.isfile(d['img_path'])]
        if missing:
            raise FileNotFoundError(f'{len(missing)} image(s) listed in {list_file} are missing, e.g. '
                                    f'{missing[:5]} (pass check_files=False to skip this check)')

    def extra_repr(self) -> List[str]:
        """Root and split, for ``repr``."""
        return [f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}']

