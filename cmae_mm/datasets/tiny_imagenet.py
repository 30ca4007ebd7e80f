"""Tiny ImageNet (200 classes, 64x64) in its official ``tiny-imagenet-200`` layout.

Layout read (as extracted from ``tiny-imagenet-200.zip``)::

    <data_root>/                       (the ``tiny-imagenet-200`` folder)
    ├── wnids.txt                      200 wnids, one a line: the class order
    ├── words.txt                      optional: ``<wnid>\\t<name>, <synonym>, ...`` (all of ImageNet)
    ├── train/<wnid>/images/*.JPEG     500 images per class
    ├── train/<wnid>/<wnid>_boxes.txt  (ignored)
    └── val/
        ├── images/*.JPEG              10,000 images
        └── val_annotations.txt        ``<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>`` a line

Class names: the first name of each wnid's ``words.txt`` entry (``'n01443537'`` -> ``'goldfish'``);
a name shared by several classes gets its wnid appended (``'crane (n02012849)'``) so names stay
unique; without ``words.txt`` (or for a wnid it lacks) the wnid itself. The wnids are kept in
``metainfo['wnids']``. The unlabelled ``test/`` split is not supported.
"""
import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.fileio import list_from_file
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

SPLITS = ('train', 'val')
IMG_SUFFIXES = ('.jpeg', '.jpg', '.png')
_WNID = re.compile(r'^n\d+$')


def read_wnids(path: Path) -> List[str]:
    """The class order: one wnid a line (blank lines skipped).

    Args:
        path (Path): ``wnids.txt``.

    Returns:
        list[str]: The wnids in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: On a line that is not a wnid (``n`` + digits), a repeated wnid or no wnid at all.
    """
    if not path.is_file():
        raise FileNotFoundError(f'Tiny ImageNet class list not found: {path}')
    wnids: List[str] = []
    for lineno, line in enumerate(list_from_file(str(path)), start=1):
        wnid = line.strip()
        if not wnid:
            continue
        if not _WNID.match(wnid):
            raise ValueError(f'{path}:{lineno}: expected a wnid like n01443537, got {line!r}')
        if wnid in wnids:
            raise ValueError(f'{path}:{lineno}: wnid {wnid!r} repeated (first on an earlier line)')
        wnids.append(wnid)
    if not wnids:
        raise ValueError(f'{path} lists no wnid')
    return wnids


def read_words(path: Path, wnids: List[str]) -> Dict[str, str]:
    """First name of each of ``wnids`` in ``words.txt`` (``<wnid>\\t<name>, <synonym>, ...``).

    Args:
        path (Path): ``words.txt`` (covers all of ImageNet; only ``wnids`` are kept).
        wnids (list[str]): The wnids wanted.

    Returns:
        dict[str, str]: ``{wnid: first name}`` for the wnids found.

    Raises:
        ValueError: On a line without a tab between the wnid and its names.
    """
    wanted, names = set(wnids), {}
    for lineno, line in enumerate(list_from_file(str(path)), start=1):
        if not line.strip():
            continue
        wnid, sep, words = line.partition('\t')
        if not sep:
            raise ValueError(f'{path}:{lineno}: expected "<wnid>\\t<names>", got {line!r}')
        if wnid.strip() in wanted:
            names[wnid.strip()] = words.split(',')[0].strip() or wnid.strip()
    return names


def class_names(wnids: List[str], words: Dict[str, str]) -> List[str]:
    """Readable, unique class names: first ``words.txt`` name, ``'<name> (<wnid>)'`` if shared.

    Args:
        wnids (list[str]): The class order.
        words (dict[str, str]): ``{wnid: first name}``; wnids missing from it are named by the wnid.

    Returns:
        list[str]: One name per wnid.
    """
    names = [words.get(w, w) for w in wnids]
    counts = Counter(names)
    return [f'{n} ({w})' if counts[n] > 1 else n for n, w in zip(names, wnids)]


def is_image(name: str) -> bool:
    """Whether a file name has an image suffix (``.JPEG`` in the official archive)."""
    return name.lower().endswith(IMG_SUFFIXES)


def parse_val_annotations(path: Path, class_index: Dict[str, int], wnids_file: Path) -> List[tuple]:
    """Parse ``val_annotations.txt`` into ``[(filename, label), ...]`` in file order.

    Args:
        path (Path): ``val/val_annotations.txt``.
        class_index (dict[str, int]): ``{wnid: 0-based label}``.
        wnids_file (Path): ``wnids.txt``, named in the unknown-wnid error.

    Returns:
        list[tuple[str, int]]: Image file name (relative to ``val/images``) and 0-based label.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: Naming ``path`` and the line: not 6 tab-separated fields, a non-integer box
            coordinate, an unknown wnid or a repeated file name.
    """
    if not path.is_file():
        raise FileNotFoundError(f'Tiny ImageNet val annotations not found: {path}')
    samples, seen = [], set()
    for lineno, line in enumerate(list_from_file(str(path)), start=1):
        if not line.strip():
            continue
        fields = line.strip().split('\t')
        where = f'{path}:{lineno}'
        if len(fields) != 6:
            raise ValueError(f'{where}: expected 6 tab-separated fields (filename, wnid, x0, y0, x1, y1), '
                             f'got {len(fields)}: {line!r}')
        filename, wnid, *box = fields
        if not all(re.fullmatch(r'-?\d+', v.strip()) for v in box):
            raise ValueError(f'{where}: box coordinates must be integers, got {box}: {line!r}')
        if wnid not in class_index:
            raise ValueError(f'{where}: unknown wnid {wnid!r} (not in {wnids_file})')
        if filename in seen:
            raise ValueError(f'{where}: image {filename!r} annotated twice')
        seen.add(filename)
        samples.append((filename, class_index[wnid]))
    return samples


@DATASETS.register_module()
class TinyImageNet(BaseDataset):
    """Tiny ImageNet from the official ``tiny-imagenet-200`` folder (see the module docstring).

    ``train`` samples are ordered by class (``wnids.txt`` order), then by file name; ``val`` samples
    follow ``val_annotations.txt``. ``gt_label`` is the 0-based index of the wnid in ``wnids.txt``.

    Args:
        data_root (str): The ``tiny-imagenet-200`` folder.
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        check_files (bool): Check that every annotated val image exists. Defaults to True.
        **kwargs: Passed to :class:`mmpretrain.datasets.BaseDataset` (``pipeline``, ``test_mode``
            (defaults to ``split == 'val'``), ``indices``, ``metainfo``, ``classes``, ...);
            ``ann_file`` and ``data_prefix`` are set by this class.

    Raises:
        ValueError: On an unknown split or a malformed ``wnids.txt`` / ``words.txt`` /
            ``val_annotations.txt`` line (naming the file and line), an unknown wnid, or a
            ``train/`` folder that ``wnids.txt`` does not list.
        FileNotFoundError: On a missing ``wnids.txt``, annotation file, class folder or val image.
    """

    def __init__(self, data_root: str, split: str = 'train', check_files: bool = True, **kwargs):
        if split not in SPLITS:
            raise ValueError(f'TinyImageNet split must be one of {SPLITS}, got {split!r} '
                             '(the official test/ split has no labels)')
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise TypeError(f'TinyImageNet sets {key!r} from data_root/split itself; '
                                f'got {key}={kwargs[key]!r}')
        self.split = split
        self.check_files = check_files
        self.wnids_file = Path(data_root) / 'wnids.txt'
        self.wnids = read_wnids(self.wnids_file)
        kwargs['metainfo'] = self._default_metainfo(Path(data_root), kwargs.get('metainfo'),
                                                    kwargs.get('classes'))
        kwargs.setdefault('test_mode', split == 'val')
        ann_file = os.path.join('val', 'val_annotations.txt') if split == 'val' else ''
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=split, **kwargs)

    def _default_metainfo(self, root: Path, metainfo: Optional[dict], classes) -> dict:
        """``wnids`` and readable ``classes``, overridden by the user's metainfo/classes."""
        derived = {'wnids': tuple(self.wnids)}
        if classes is None:
            words_file = root / 'words.txt'
            words = read_words(words_file, self.wnids) if words_file.is_file() else {}
            derived['classes'] = tuple(class_names(self.wnids, words))
        return {**derived, **dict(metainfo or {})}

    def load_data_list(self) -> List[dict]:
        """List the split's images as ``[{'img_path': str, 'gt_label': int}, ...]``.

        Returns:
            list[dict]: One entry per image; ``gt_label`` in ``0..len(wnids)-1``.
        """
        classes = self._metainfo.get('classes')
        if classes is not None and len(classes) != len(self.wnids):
            raise ValueError(f'{len(classes)} class names given for {len(self.wnids)} wnids in '
                             f'{self.wnids_file}')
        if self.split == 'train':
            return self._train_list()
        return self._val_list()

    def _train_list(self) -> List[dict]:
        """``train/<wnid>/images/*.JPEG`` for every wnid, in class order then file-name order."""
        train_dir = Path(self.img_prefix)
        if not train_dir.is_dir():
            raise FileNotFoundError(f'Tiny ImageNet train directory not found: {train_dir}')
        unknown = sorted(p.name for p in train_dir.iterdir() if p.is_dir() and p.name not in self.wnids)
        if unknown:
            raise ValueError(f'{train_dir} has class folder(s) {unknown[:5]} that {self.wnids_file} '
                             'does not list (unknown wnid)')
        data_list = []
        for label, wnid in enumerate(self.wnids):
            images_dir = train_dir / wnid / 'images'
            if not images_dir.is_dir():
                raise FileNotFoundError(f'Tiny ImageNet class folder not found: {images_dir} '
                                        f'(wnid {wnid!r} is listed in {self.wnids_file})')
            names = sorted(n for n in os.listdir(images_dir) if is_image(n))
            if not names:
                raise FileNotFoundError(f'No image in {images_dir}')
            data_list.extend(dict(img_path=str(images_dir / n), gt_label=label) for n in names)
        return data_list

    def _val_list(self) -> List[dict]:
        """``val/images/<file>`` labelled by ``val/val_annotations.txt``, in annotation-file order."""
        class_index = {w: i for i, w in enumerate(self.wnids)}
        samples = parse_val_annotations(Path(self.ann_file), class_index, self.wnids_file)
        images_dir = os.path.join(self.img_prefix, 'images')
        data_list = [dict(img_path=os.path.join(images_dir, f), gt_label=label) for f, label in samples]
        if self.check_files:
            missing = [d['img_path'] for d in data_list if not os.path.isfile(d['img_path'])]
            if missing:
                raise FileNotFoundError(f'{len(missing)} image(s) annotated in {self.ann_file} are '
                                        f'missing, e.g. {missing[:5]} (pass check_files=False to skip)')
        return data_list

    def extra_repr(self) -> List[str]:
        """Root and split, for ``repr``."""
        return [f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}']
