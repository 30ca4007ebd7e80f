"""Extract the encoder of a Conditional MAE (or MAE) pre-training checkpoint for downstream use.

``--to vit`` (default): mmpretrain ``VisionTransformer`` keys without prefix, the encoder layout
of every downstream config of this suite (load it with ``model.backbone.init_cfg.prefix=''``);
``--to timm``: a plain state dict for timm's ViT without classifier (``strict=True``). Each
conversion is checked before anything is written, and an existing output is kept unless
``--force``. The formats, the checks and how the architecture is read (``--arch`` for a custom
width) are described in :mod:`cmae_mm.models.converters`; this tool parses the command line and
calls its :func:`~cmae_mm.models.converters.export_encoder`.

Examples::

    python tools/model_converters/convert_cmae.py work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth cmae_vitb.pth
    python tools/model_converters/convert_cmae.py work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth \\
        cmae_vitb_timm.pth --to timm
"""
import argparse
import sys
from typing import List, Optional

from cmae_mm.engine.checkpoint import CheckpointMismatchError, UnsafeCheckpointError
from cmae_mm.models.converters import CONVERSIONS, export_encoder


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        ``src``, ``dst``, ``to``, ``arch``, ``prefix``, ``force``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='pre-training checkpoint (Runner checkpoint or state dict)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--to', choices=CONVERSIONS, default='vit', help='output key format')
    parser.add_argument('--arch', help="ViT arch: a name ('b', 'deit-small', 'l', ...) or a JSON dict "
                        'with num_heads, needed only when the head count cannot be read from the '
                        'weights and the stored config')
    parser.add_argument('--prefix', default='backbone.',
                        help="key prefix of the encoder in SRC (default 'backbone.')")
    parser.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Convert as the command line says; an input error ends the tool with one line, status 1."""
    args = parse_args(argv)
    try:
        export = export_encoder(args.src, args.dst, to=args.to, arch=args.arch,
                                prefix=args.prefix, force=args.force)
    except (CheckpointMismatchError, FileExistsError, FileNotFoundError, UnsafeCheckpointError,
            ValueError) as e:
        sys.exit(f'convert_cmae.py: error: {e}')
    print(export.format())
    return 0


if __name__ == '__main__':
    sys.exit(main())
