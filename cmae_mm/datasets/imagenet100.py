"""ImageNet-100: the 100-class ImageNet-1K subset of CMC, as an mmpretrain dataset, and its builder.

:func:`build_imagenet100` makes the subset from an ImageNet-1K root (symlinked class folders or
ann files); its command line is ``tools/dataset_converters/build_imagenet100.py``.

What the paper states, and what the suite chose
-----------------------------------------------
The paper (App. A.1) says only that ImageNet-100 "is a subset of ImageNet-1K and contains
135,000 images from 100 random classes"; it publishes no class list and cites no source for one.
The suite uses CMC's class list instead (below), because it is the ImageNet-100 that
self-supervised work most widely uses and ships, so results are comparable with that work and
the subset can be rebuilt exactly. It is not known to be the paper's subset: CMC's classes hold
126,689 training and 5,000 validation images, not 135,000 (which is 100 x 1,350, i.e. the most
any 100 ImageNet-1K classes can hold: 1,300 training plus 50 validation images each). Another list
can be given to the dataset as ``metainfo=dict(classes=[...])``.

Class list provenance
---------------------
``imagenet100_classes.txt`` (next to this module) is ``imagenet100.txt`` of the CMC repository
(https://github.com/HobbitLong/CMC, commit ``bc687a26de7ae350d98f671d25d164b65336b8c2``), i.e. the
subset of Tian, Krishnan & Isola, "Contrastive Multiview Coding" (ECCV 2020). It was checked to be
identical, in the same order, to ``solo/data/dataset_subset/imagenet100_classes.txt`` of
https://github.com/vturrisi/solo-learn, and every wnid was checked to be one of the 1000
ImageNet-1K synsets (timm's ``imagenet_synsets.txt``). The file order defines the labels 0..99.

Two on-disk forms are supported, both read by :class:`ImageNet100` exactly like mmpretrain's
``ImageNet`` reads ImageNet-1K:

* folder layout ``<data_root>/{train,val}/<wnid>/*.JPEG`` (e.g. made by
  ``tools/dataset_converters/build_imagenet100.py --mode symlink``), used as
  ``dict(type='ImageNet100', data_root='data/imagenet100', split='train')``. Labels follow the
  class-list order, not the sorted folder order, so they agree with ``metainfo['classes']``;
  folders of other classes (e.g. when ``data_root`` is ImageNet-1K itself) are ignored.
* ann files ``meta/{train,val}.txt`` with ``<relative/path> <label>`` lines. Those written by
  ``build_imagenet100.py --mode annfile`` hold paths relative to the ImageNet-1K root
  (``train/<wnid>/<file> <label>``), so they are used without ``split``:
  ``dict(type='ImageNet100', data_root='data/imagenet',
  ann_file='/abs/path/data/imagenet100/meta/train.txt')`` (a relative ``ann_file`` is taken
  relative to ``data_root``).
"""
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger
from mmpretrain.datasets import ImageNet
from mmpretrain.datasets.custom import find_folders, get_samples
from mmpretrain.registry import DATASETS

PathLike = Union[str, os.PathLike]

CLASS_LIST_FILE = Path(__file__).with_name('imagenet100_classes.txt')
WNID_PATTERN = re.compile(r'n\d{8}')
IMG_EXTENSIONS = tuple(ext.lower() for ext in ImageNet.IMG_EXTENSIONS)
_PREVIEW = 5  # how many missing wnids error messages name


class MissingClassesError(FileNotFoundError):
    """Some classes of the class list have no folder in the source dataset.

    Attributes:
        missing (Dict[str, List[str]]): Missing wnids per location (split folder), in class-list
            order.
    """

    def __init__(self, message: str, missing: Dict[str, List[str]]) -> None:
        super().__init__(message)
        self.missing = missing


def load_class_list(path: PathLike = CLASS_LIST_FILE) -> Tuple[str, ...]:
    """Read a class list: one WordNet id (``n`` + 8 digits) per line, blank lines ignored.

    Args:
        path (str | PathLike): The text file. Defaults to the packaged ImageNet-100 list.

    Returns:
        Tuple[str, ...]: The wnids in file order (the order defines the labels).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If a line is not a wnid, a wnid repeats, or the list is empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Class list '{path}' does not exist (expected a text file with "
                                'one WordNet id such as n01558993 per line).')
    wnids: List[str] = []
    for lineno, line in enumerate(list_from_file(str(path)), start=1):
        wnid = line.strip()
        if not wnid:
            continue
        if not WNID_PATTERN.fullmatch(wnid):
            raise ValueError(f"Class list '{path}', line {lineno}: {wnid!r} is not a WordNet id "
                             "(allowed: 'n' followed by 8 digits, e.g. n01558993).")
        wnids.append(wnid)
    if not wnids:
        raise ValueError(f"Class list '{path}' contains no WordNet ids.")
    duplicates = sorted({w for w in wnids if wnids.count(w) > 1})
    if duplicates:
        raise ValueError(f"Class list '{path}' repeats {len(duplicates)} wnid(s): "
                         f"{', '.join(duplicates)}. Every class must appear once.")
    return tuple(wnids)


IMAGENET100_CLASSES: Tuple[str, ...] = load_class_list()


def describe_missing(missing: Sequence[str], total: int, where: PathLike) -> str:
    """One-line description of missing class folders (count and the first few wnids).

    Args:
        missing (Sequence[str]): The missing wnids.
        total (int): Size of the class list.
        where (str | PathLike): The folder the classes were looked for in.

    Returns:
        str: E.g. ``"3 of the 100 classes have no folder in 'x/train': n1, n2, n3"``.
    """
    shown = ', '.join(missing[:_PREVIEW])
    more = f' (+{len(missing) - _PREVIEW} more)' if len(missing) > _PREVIEW else ''
    return f"{len(missing)} of the {total} classes have no folder in '{where}': {shown}{more}"


@DATASETS.register_module()
class ImageNet100(ImageNet):
    """ImageNet-100 (CMC subset of ImageNet-1K) with the interface of mmpretrain's ``ImageNet``.

    Reads ``<data_root>/<split>/<wnid>/*`` class folders or ``meta/<split>.txt`` ann files exactly
    as ``ImageNet`` does; ``metainfo['classes']`` are the 100 wnids of
    :data:`IMAGENET100_CLASSES`. In the folder layout, label ``i`` is the class at position ``i`` of
    ``metainfo['classes']`` (not of the sorted folder names) and folders of other classes are
    ignored, so ``data_root`` may also be an ImageNet-1K root. In the ann-file layout the labels
    are taken from the file and must lie in ``[0, num_classes)``.

    Args:
        data_root (str): The root directory for ``data_prefix`` and ``ann_file``. Defaults to ''.
        split (str): ``'train'``, ``'val'`` or ``'test'`` (unlabelled); sets ``data_prefix`` to the
            split folder and picks up ``meta/<split>.txt`` if it exists. Defaults to ''.
        data_prefix (str | dict): Prefix of the image paths. Defaults to ''.
        ann_file (str): Annotation file (``<relative/path> <label>`` lines). Defaults to ''.
        metainfo (dict, optional): Overrides the meta information, e.g. other ``classes`` (which
            then also name the class folders). Defaults to None.
        **kwargs: Other keyword arguments of ``CustomDataset`` and ``BaseDataset``.
    """

    METAINFO = {'classes': IMAGENET100_CLASSES}

    def _find_samples(self) -> list:
        """Scan the class folders of ``metainfo['classes']`` under ``img_prefix``.

        Returns:
            list: ``(relative_path, label)`` tuples (plain relative paths when unlabelled).

        Raises:
            MissingClassesError: If a class has no folder under ``img_prefix``.
            RuntimeError: If the class folders hold no image.
        """
        if not self.with_label:
            return super()._find_samples()
        classes = tuple(self.CLASSES)
        folders = set(self._list_class_folders())
        missing = [c for c in classes if c not in folders]
        if missing:
            details = describe_missing(missing, len(classes), self.img_prefix)
            raise MissingClassesError(
                f'{type(self).__name__}: {details}'
                '. Expected <data_root>/<split>/<wnid>/ folders for every class (build them with '
                'tools/dataset_converters/build_imagenet100.py) or an ann file.',
                {self.img_prefix: missing})
        logger = MMLogger.get_current_instance()
        ignored = len(folders) - len(classes)
        if ignored:
            logger.info(f'{type(self).__name__}: ignoring {ignored} folder(s) under '
                        f"'{self.img_prefix}' that are not among the {len(classes)} classes.")
        self.folder_to_idx = {wnid: label for label, wnid in enumerate(classes)}
        samples, empty = get_samples(self.img_prefix, self.folder_to_idx,
                                     is_valid_file=self.is_valid_file)
        if not samples:
            raise RuntimeError(f'{type(self).__name__}: the class folders under '
                               f"'{self.img_prefix}' hold no image with an extension in "
                               f'{sorted(self.extensions)}.')
        if empty:
            logger.warning(f'{type(self).__name__}: no image in the folder(s) '
                           f"{', '.join(sorted(empty))} under '{self.img_prefix}'.")
        return samples

    def _list_class_folders(self) -> List[str]:
        """Names of the sub-folders of ``img_prefix`` (clear error if it does not exist)."""
        try:
            folders, _ = find_folders(self.img_prefix)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{type(self).__name__}: image folder '{self.img_prefix}' does not exist and no "
                "ann file was given (expected <data_root>/<split>/<wnid>/*.JPEG or "
                '<data_root>/meta/<split>.txt).') from err
        return folders

    def _check_ann_lines(self) -> None:
        """Reject a malformed ann file line with its number (mmpretrain's parser does not say)."""
        for lineno, line in enumerate(list_from_file(self.ann_file), start=1):
            parts = line.strip().rsplit(' ', 1)
            if not line.strip():
                continue
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(
                    f"{type(self).__name__}: ann file '{self.ann_file}', line {lineno}: "
                    f"{line.strip()!r} is not '<relative/path> <integer label>'.")

    def load_data_list(self) -> List[dict]:
        """Load the samples and check that every label is a valid class index.

        Returns:
            List[dict]: ``{'img_path', 'gt_label'}`` dicts (``img_path`` only when unlabelled).

        Raises:
            ValueError: If an ann file line is not ``<path> <integer label>`` (naming the file and
                the line number), or holds a label outside ``[0, num_classes)``.
        """
        if self.ann_file and self.with_label:
            self._check_ann_lines()
        data_list = super().load_data_list()
        if self.with_label:
            num_classes = len(self.CLASSES)
            for info in data_list:
                if not 0 <= info['gt_label'] < num_classes:
                    raise ValueError(
                        f"{type(self).__name__}: label {info['gt_label']} of '{info['img_path']}' "
                        f"(ann file '{self.ann_file}') is outside the allowed range "
                        f'0..{num_classes - 1} of the {num_classes} classes.')
        return data_list


SPLITS = ('train', 'val')
BUILD_MODES = ('symlink', 'annfile')


@dataclass(frozen=True)
class SplitSummary:
    """What was built for one split.

    Attributes:
        split (str): ``'train'`` or ``'val'``.
        num_classes (int): Number of classes.
        num_images (int): Number of images over all classes.
        min_per_class (int): Fewest images of a class.
        max_per_class (int): Most images of a class.
        empty_classes (Tuple[str, ...]): Classes whose folder holds no image.
    """

    split: str
    num_classes: int
    num_images: int
    min_per_class: int
    max_per_class: int
    empty_classes: Tuple[str, ...]

    def format(self) -> str:
        """One human-readable summary line."""
        line = (f'{self.split}: {self.num_classes} classes, {self.num_images} images '
                f'({self.min_per_class}-{self.max_per_class} per class)')
        if self.empty_classes:
            line += f'; WARNING: no image in {", ".join(self.empty_classes)}'
        return line


@dataclass(frozen=True)
class BuildSummary:
    """Result of :func:`build_imagenet100`.

    Attributes:
        src (Path): The ImageNet-1K root that was read.
        dst (Path): The destination that was written.
        mode (str): ``'symlink'`` or ``'annfile'``.
        splits (Tuple[SplitSummary, ...]): One summary per split.
    """

    src: Path
    dst: Path
    mode: str
    splits: Tuple[SplitSummary, ...]

    def dataset_cfg(self, split: str) -> str:
        """The ``ImageNet100`` dataset config that reads ``split`` of the result."""
        if self.mode == 'symlink':
            return f"dict(type='ImageNet100', data_root='{self.dst}', split='{split}')"
        return (f"dict(type='ImageNet100', data_root='{self.src}', "
                f"ann_file='{self.dst / 'meta' / f'{split}.txt'}')")

    def format(self) -> str:
        """Multi-line human-readable summary, including how to use the result in a config."""
        lines = [f"ImageNet-100 ({self.mode}) written to '{self.dst}' from '{self.src}':"]
        lines += [f'  {s.format()}' for s in self.splits]
        lines += [f'  use {s.split}: {self.dataset_cfg(s.split)}' for s in self.splits]
        return '\n'.join(lines)


def build_imagenet100(src: PathLike,
                      dst: PathLike,
                      mode: str = 'symlink',
                      class_list: Optional[PathLike] = None,
                      splits: Sequence[str] = SPLITS,
                      force: bool = False,
                      log: Callable[[str], None] = print) -> BuildSummary:
    """Build ImageNet-100 from an ImageNet-1K root in class-folder layout.

    Everything is checked before the destination is touched, and the result is assembled in a
    temporary sibling folder that is moved into place at the end, so a failure never leaves a
    half-built destination.

    Args:
        src (str | PathLike): ImageNet-1K root holding ``<split>/<wnid>/*.JPEG`` (the validation
            images must already be sorted into class folders).
        dst (str | PathLike): Destination root.
        mode (str): ``'symlink'``: ``dst/<split>/<wnid>`` become symlinks to the source class
            folders (read with ``data_root=dst, split=<split>``). ``'annfile'``: write
            ``dst/meta/<split>.txt`` with ``<split>/<wnid>/<file> <label>`` lines relative to
            ``src`` (read with ``data_root=src, ann_file=dst/meta/<split>.txt``). Labels are
            0..N-1 in class-list order. Defaults to ``'symlink'``.
        class_list (str | PathLike, optional): Class list file (one wnid per line). Defaults to
            the packaged ImageNet-100 list.
        splits (Sequence[str]): Splits to build, from ``('train', 'val')``. Defaults to both.
        force (bool): Replace ``dst/<split>`` and ``dst/meta/<split>.txt`` of an existing
            non-empty destination (other files there are kept). Defaults to False.
        log (Callable[[str], None]): Receives progress lines. Defaults to ``print``.

    Returns:
        BuildSummary: Per-split class and image counts.

    Raises:
        ValueError: Unknown ``mode`` or split, a bad class list, or ``dst`` overlapping ``src``.
        FileNotFoundError: ``src`` or one of its split folders does not exist.
        MissingClassesError: The source lacks class folders (all of them are named per split).
        FileExistsError: ``dst`` is a file, or a non-empty folder and ``force`` is False.
    """
    _check_choice('mode', mode, BUILD_MODES)
    splits = tuple(dict.fromkeys(splits))  # drop repeats, keep order
    if not splits:
        raise ValueError(f'No split to build; allowed: {", ".join(SPLITS)}.')
    for split in splits:
        _check_choice('split', split, SPLITS)
    classes = IMAGENET100_CLASSES if class_list is None else load_class_list(class_list)
    src, dst = Path(src).expanduser().resolve(), Path(dst).expanduser().absolute()
    _check_source(src, splits, classes)
    _check_destination(src, dst, force)
    log(f"{len(classes)} classes from '{class_list or CLASS_LIST_FILE}'; reading '{src}'")

    images = {split: _scan_split(src / split, classes, log) for split in splits}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f'.{dst.name}.{uuid.uuid4().hex[:8]}.partial'  # mkdir honours the umask
    tmp.mkdir()
    try:
        for split in splits:
            if mode == 'symlink':
                _write_symlinks(src / split, tmp / split, classes)
            else:
                _write_annfile(tmp / 'meta' / f'{split}.txt', split, classes, images[split])
        _install(tmp, dst, splits)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    summary = BuildSummary(src, dst, mode,
                           tuple(_summarise(s, classes, images[s]) for s in splits))
    log(summary.format())
    return summary


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    """Raise ``ValueError`` naming ``value`` if it is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f'Unknown {name} {value!r}; allowed: {", ".join(allowed)}.')


def _check_source(src: Path, splits: Sequence[str], classes: Sequence[str]) -> None:
    """Check that ``src/<split>/<wnid>`` exists for every split and class.

    Raises:
        FileNotFoundError: ``src`` or a split folder is missing.
        MissingClassesError: Class folders are missing (all splits are reported at once).
    """
    if not src.is_dir():
        raise FileNotFoundError(f"Source '{src}' is not a folder (expected the ImageNet-1K root "
                                'with train/<wnid>/*.JPEG and val/<wnid>/*.JPEG).')
    missing: Dict[str, List[str]] = {}
    for split in splits:
        split_dir = src / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"Source split folder '{split_dir}' does not exist (expected "
                                    f'{src}/{split}/<wnid>/*.JPEG).')
        absent = [c for c in classes if not (split_dir / c).is_dir()]
        if absent:
            missing[str(split_dir)] = absent
    if missing:
        details = '; '.join(
            describe_missing(m, len(classes), where) for where, m in missing.items())
        raise MissingClassesError(
            f'The source lacks class folders, nothing was written: {details}. (Validation images '
            'must be sorted into <wnid> folders first.)', missing)


def _check_destination(src: Path, dst: Path, force: bool) -> None:
    """Refuse a destination that overlaps the source, is a file, or is non-empty without force.

    Raises:
        ValueError: ``dst`` is ``src``, inside it, or contains it.
        FileExistsError: ``dst`` is a file, or a non-empty folder and ``force`` is False.
    """
    resolved = dst.resolve()
    if resolved == src or src in resolved.parents or resolved in src.parents:
        raise ValueError(f"Destination '{dst}' overlaps the source '{src}'; choose a separate "
                         'folder (e.g. data/imagenet100 next to data/imagenet).')
    if dst.exists() and not dst.is_dir():
        raise FileExistsError(f"Destination '{dst}' exists and is not a folder.")
    if dst.is_dir() and any(dst.iterdir()) and not force:
        raise FileExistsError(f"Destination '{dst}' exists and is not empty; pass --force "
                              '(force=True) to replace its split folders and ann files.')


def _scan_split(split_dir: Path, classes: Sequence[str],
                log: Callable[[str], None]) -> List[List[str]]:
    """List the images of every class folder of one split (with progress lines).

    Returns:
        List[List[str]]: Per class (class-list order), sorted image paths relative to its folder.
    """
    images = []
    step = max(1, len(classes) // 4)
    for i, wnid in enumerate(classes, start=1):
        images.append(_list_images(split_dir / wnid))
        if i % step == 0 or i == len(classes):
            log(f'  [{split_dir.name}] scanned {i}/{len(classes)} classes, '
                f'{sum(map(len, images))} images')
    return images


def _list_images(folder: Path) -> List[str]:
    """Sorted POSIX paths, relative to ``folder``, of the images below it (recursively)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        rel_root = Path(root).relative_to(folder)
        found += [(rel_root / f).as_posix() for f in files if f.lower().endswith(IMG_EXTENSIONS)]
    return sorted(found)


def _write_symlinks(src_split: Path, out_split: Path, classes: Sequence[str]) -> None:
    """Create ``out_split/<wnid>`` -> ``src_split/<wnid>`` (absolute) for every class."""
    out_split.mkdir(parents=True)
    for wnid in classes:
        os.symlink(src_split / wnid, out_split / wnid, target_is_directory=True)


def _write_annfile(path: Path, split: str, classes: Sequence[str],
                   images: Sequence[Sequence[str]]) -> None:
    """Write ``<split>/<wnid>/<file> <label>`` lines (label = class-list index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('w') as f:
        for label, (wnid, files) in enumerate(zip(classes, images)):
            f.writelines(f'{split}/{wnid}/{name} {label}\n' for name in files)


def _install(tmp: Path, dst: Path, splits: Sequence[str]) -> None:
    """Move the finished build from ``tmp`` into ``dst``, replacing only what the build owns."""
    if not dst.exists() or (dst.is_dir() and not any(dst.iterdir())):
        if dst.exists():
            dst.rmdir()
        tmp.rename(dst)
        return
    for split in splits:  # force: replace this build's outputs, keep unrelated files
        for owned in (dst / split, dst / 'meta' / f'{split}.txt'):
            _remove(owned)
        for built in (tmp / split, tmp / 'meta' / f'{split}.txt'):
            if built.exists() or built.is_symlink():
                target = dst / built.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                built.rename(target)


def _remove(path: Path) -> None:
    """Delete a file, symlink or folder (symlinked class folders are unlinked, not followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _summarise(split: str, classes: Sequence[str],
               images: Sequence[Sequence[str]]) -> SplitSummary:
    """Counts of one split (``images`` holds the files of ``classes``, in the same order)."""
    counts = [len(files) for files in images]
    empty = tuple(wnid for wnid, n in zip(classes, counts) if n == 0)
    return SplitSummary(split, len(counts), sum(counts), min(counts), max(counts), empty)
