"""Build ImageNet-100 (the CMC 100-class subset) from an ImageNet-1K folder.

The source must be in mmpretrain's ImageNet-1K class-folder layout,
``<src>/{train,val}/<wnid>/*.JPEG`` (validation images already sorted into class folders).
Two outputs:

* ``--mode symlink`` (default): ``<dst>/{train,val}/<wnid>`` symlink to the source class folders;
  read with ``dict(type='ImageNet100', data_root='<dst>', split='train')``.
* ``--mode annfile``: ``<dst>/meta/{train,val}.txt`` with ``<split>/<wnid>/<file> <label>`` lines
  relative to ``<src>``; read with
  ``dict(type='ImageNet100', data_root='<src>', ann_file='<abs dst>/meta/train.txt')``.

The builder is :func:`cmae_mm.datasets.imagenet100.build_imagenet100`; this tool parses the
command line and calls it.

Usage:
    python tools/dataset_converters/build_imagenet100.py --src data/imagenet --dst data/imagenet100
    python tools/dataset_converters/build_imagenet100.py --src data/imagenet \\
        --dst data/imagenet100 --mode annfile --force
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

from cmae_mm.datasets.imagenet100 import BUILD_MODES, CLASS_LIST_FILE, SPLITS, build_imagenet100


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
