"""Build ImageNet-100 (the CMC 100-class subset) from an ImageNet-1K folder.

The source must be in mmpretrain's ImageNet-1K class-folder layout,
``<src>/{train,val}/<wnid>/*.JPEG`` (validation images already sorted into class folders).
Two outputs:

* ``--mode symlink`` (default): ``<dst>/{train,val}/<wnid>`` symlink to the source class folders;
  read with ``dict(type='ImageNet100', data_root='<dst>', split='train')``.
* ``--mode annfile``: ``<dst>/meta/{train,val}.txt`` with ``<split>/<wnid>/<file> <label>`` lines
  relative to ``<src>``; read with
  ``dict(type='ImageNet100', data_root='<src>', ann_file='<abs dst>/meta/train.txt')``.

Usage:
    python tools/dataset_converters/build_imagenet100.py --src data/imagenet --dst data/imagenet100
    python tools/dataset_converters/build_imagenet100.py --src data/imagenet \\
        --dst data/imagenet100 --mode annfile --force
"""
import argparse
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from cmae_mm.datasets.imagenet100 import (CLASS_LIST_FILE, IMAGENET100_CLASSES, IMG_EXTENSIONS,
                                          MissingClassesError, PathLike, describe_missing,
                                          load_class_list)

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


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (List[str], optional): Arguments without the program name. Defaults to ``sys.argv``.

    Returns:
        argparse.Namespace: ``src``, ``dst``, ``mode``, ``class_list``, ``splits``, ``force``.
    """
    parser = argparse.ArgumentParser(
        description='Build ImageNet-100 (CMC subset) from an ImageNet-1K class-folder root.')
    parser.add_argument('--src', type=Path, default=Path('data/imagenet'),
                        help='ImageNet-1K root with {train,val}/<wnid>/*.JPEG '
                        '(default: %(default)s)')
    parser.add_argument('--dst', type=Path, default=Path('data/imagenet100'),
                        help='destination root (default: %(default)s)')
    parser.add_argument('--mode', choices=BUILD_MODES, default='symlink',
                        help='symlink class folders, or write meta/<split>.txt ann files relative '
                        'to --src (default: %(default)s)')
    parser.add_argument('--class-list', type=Path, default=None,
                        help=f'one wnid per line; labels follow its order '
                        f'(default: the packaged {CLASS_LIST_FILE.name})')
    parser.add_argument('--splits', nargs='+', choices=SPLITS, default=list(SPLITS),
                        help='splits to build (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='replace <dst>/<split> and <dst>/meta/<split>.txt of a non-empty '
                        'destination')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the builder; errors are printed as one line and give exit status 1."""
    args = parse_args(argv)
    try:
        build_imagenet100(args.src, args.dst, mode=args.mode, class_list=args.class_list,
                          splits=args.splits, force=args.force)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
