"""Extract the encoder of a Conditional MAE (or MAE) pre-training checkpoint for downstream use.

Formats (``--to``):

* ``vit`` (default): mmpretrain ``VisionTransformer`` keys without prefix, in a slim checkpoint
  ``{'state_dict': ..., 'meta': ...}`` (no decoder, no optimizer). It is the encoder layout of
  every downstream config of this suite (classification, Mask R-CNN, UperNet); load it with
  ``model.backbone.init_cfg.prefix=''``.
* ``timm``: a plain state dict for timm's ViT without classifier, loadable with ``strict=True``:
  ``timm.create_model('vit_base_patch16_224', num_classes=0).load_state_dict(torch.load(DST))``.

Every conversion is checked before anything is written: the encoder must fill an mmpretrain ViT
of the checkpoint's architecture exactly (no missing, no unused key), and a timm export must load
strictly and compute the same tokens as the source encoder. Nothing is written on a mismatch,
and an existing output is never overwritten without ``--force``.

Examples::

    python tools/model_converters/convert_cmae.py work_dirs/cmae_vitb_300e/epoch_300.pth cmae_vitb.pth
    python tools/model_converters/convert_cmae.py work_dirs/cmae_vitb_300e/epoch_300.pth \\
        cmae_vitb_timm.pth --to timm
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a clone without install


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='pre-training checkpoint (Runner checkpoint or state dict)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--to', choices=('vit', 'timm'), default='vit', help='output key format')
    parser.add_argument('--arch', help="ViT arch ('b', 'deit-small', 'l', ...) when the checkpoint "
                        'holds no pre-training config')
    parser.add_argument('--prefix', default='backbone.',
                        help="key prefix of the encoder in SRC (default 'backbone.')")
    parser.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if '://' not in args.src and not Path(args.src).is_file():
        sys.exit(f'convert_cmae.py: error: checkpoint not found: {args.src}')
    if Path(args.dst).exists() and not args.force:
        sys.exit(f'convert_cmae.py: error: {args.dst} exists; pass --force to overwrite it')
    import torch

    import cmae_mm  # noqa: F401  (allows Runner checkpoints under weights_only)
    from cmae_mm.checkpoint import CheckpointMismatchError, convert_encoder

    try:
        state, spec, diff = convert_encoder(args.src, args.to, args.arch, args.prefix)
    except (CheckpointMismatchError, ValueError) as e:
        sys.exit(f'convert_cmae.py: error: {e}')
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    if args.to == 'vit':
        meta = dict(source=str(args.src), format='mmpretrain VisionTransformer', arch=spec.arch,
                    img_size=spec.img_size, patch_size=spec.patch_size)
        torch.save(dict(state_dict=state, meta=meta), args.dst)
    else:
        torch.save(state, args.dst)
    check = f'; tokens match the source encoder (max abs difference {diff:.2g})' if args.to == 'timm' else ''
    print(f'{args.dst}: {len(state)} tensors, {args.to} keys, {spec.num_layers} blocks x '
          f'{spec.embed_dims}-d, {spec.num_heads} heads, patch {spec.patch_size}, '
          f'{spec.img_size}px; all encoder keys used{check}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
