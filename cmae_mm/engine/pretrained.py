"""``tools/train.py --pretrained CKPT``: initialise a downstream config's encoder from a checkpoint.

The encoder is the innermost ``model.backbone`` (``model.backbone.backbone...`` when a backbone
wraps another). Its ``init_cfg`` -- None, a dict or a list -- becomes the form every downstream
config of the suite uses, ``dict(type='Pretrained', checkpoint=CKPT, prefix=...)``, which the
suite's encoders (:class:`~cmae_mm.models.backbones.strict_pretrained.StrictPretrainedMixin`:
``TransferViT``, ``TransferSwin``, ``TransferConvNeXt``) load strictly: every missing or
unexpected key beyond the ones expected by design raises
:class:`~cmae_mm.engine.checkpoint.CheckpointMismatchError`, and the load is logged as
``<Encoder>: loaded N tensors from CKPT; new by design: [...]; unused by design: [...]``. Other
backbone types (mmengine's ``Pretrained`` initialiser only logs mismatches) are refused.

The kind of checkpoint is read from its keys (loaded with ``weights_only``, memory-mapped; nothing
of a stored config is evaluated):

* ``backbone.*`` keys -- a pre-training (or downstream) Runner checkpoint: ``prefix='backbone.'``;
* encoder keys without prefix -- the backbone-only file of ``tools/model_converters/
  convert_cmae.py`` (its default ``--to vit``): ``prefix=''``;
* timm's layout (``blocks.*``, ``patch_embed.proj.*``; ``convert_cmae.py --to timm``) or no encoder
  keys at all: refused in one line saying how to convert.
"""
import importlib
import logging
import pickle
from typing import List, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .checkpoint import (CheckpointMismatchError, UnsafeCheckpointError, read_checkpoint,
                         trusted_globals, unsafe_checkpoint_message)
from .errors import ConfigError

__all__ = ['CONVERT_HINT', 'apply_pretrained', 'checkpoint_keys', 'encoder_prefix',
           'find_backbone']

#: How to make a backbone-only checkpoint in the layout of the suite's encoders.
CONVERT_HINT = ('python tools/model_converters/convert_cmae.py PRETRAIN_CKPT OUT.pth (mmpretrain '
                'layout, the default --to vit)')
#: First key components of the suite's encoders (ViT, Swin, ConvNeXt) in mmpretrain's layout.
ENCODER_ROOTS = ('cls_token', 'pos_embed', 'patch_embed', 'layers', 'stages', 'downsample_layers',
                 'ln1', 'norm0', 'norm1', 'norm2', 'norm3', 'absolute_pos_embed')
#: Keys that only timm's ViT layout has.
TIMM_MARKERS = ('blocks.', 'patch_embed.proj.')


def find_backbone(cfg: Config) -> Tuple[str, dict]:
    """The encoder's config: the innermost of ``model.backbone``, ``model.backbone.backbone``, ...

    Args:
        cfg: The config.

    Returns:
        The dotted path (e.g. ``'model.backbone'``) and the dict itself (modifiable in place).

    Raises:
        ConfigError: If the config has no ``model.backbone`` dict.
    """
    model = cfg.get('model')
    node = model.get('backbone') if isinstance(model, dict) else None
    if not isinstance(node, dict):
        raise ConfigError('--pretrained sets the encoder of model.backbone, which this config does '
                          'not have')
    path = 'model.backbone'
    while isinstance(node.get('backbone'), dict):
        node, path = node['backbone'], path + '.backbone'
    return path, node


def checkpoint_keys(path: str) -> List[str]:
    """The state-dict keys of a checkpoint, read with ``weights_only`` (local files memory-mapped).

    Args:
        path: A Runner checkpoint or a plain state dict; a local path or a URI mmengine reads.

    Returns:
        The keys of its ``state_dict`` (of the file itself for a plain state dict).

    Raises:
        UnsafeCheckpointError: If the file holds objects outside the ``weights_only`` allowlist.
        CheckpointMismatchError: If it holds no dict.
    """
    if '://' in path:
        return list(read_checkpoint(path)['state_dict'])
    try:
        with trusted_globals():
            ckpt = torch.load(path, map_location='cpu', mmap=True, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(unsafe_checkpoint_message(path, e)) from e
    except RuntimeError:  # a legacy (non-zip) file cannot be memory-mapped: read it whole
        return list(read_checkpoint(path)['state_dict'])
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(f'{path} holds a {type(ckpt).__name__}, not a state dict')
    state = ckpt['state_dict'] if isinstance(ckpt.get('state_dict'), dict) else ckpt
    return list(state)


def encoder_prefix(keys: List[str], source: str) -> str:
    """The ``init_cfg.prefix`` that selects the encoder from a checkpoint with these keys.

    Args:
        keys: The checkpoint's state-dict keys.
        source: Its path, for messages.

    Returns:
        ``'backbone.'`` for a pre-training (or downstream) checkpoint, ``''`` for a backbone-only
        file in mmpretrain's layout.

    Raises:
        CheckpointMismatchError: In one line with the conversion command, for timm's layout or a
            checkpoint without encoder keys.
    """
    if any(k.startswith('backbone.') for k in keys):
        return 'backbone.'
    groups = sorted({k.split('.')[0] for k in keys})
    if any(k.startswith(TIMM_MARKERS) for k in keys):
        raise CheckpointMismatchError(
            f"--pretrained {source} is in timm's layout (keys {groups[:6]}), which the suite's "
            f'encoders do not load; give the pre-training checkpoint itself, or convert it with '
            f'{CONVERT_HINT}')
    if not set(groups) & set(ENCODER_ROOTS):
        raise CheckpointMismatchError(
            f'--pretrained {source} holds no encoder weights (its keys start with {groups[:8]}); '
            f'give a pre-training checkpoint (backbone.* keys) or its backbone-only conversion: '
            f'{CONVERT_HINT}')
    return ''


def _backbone_class(backbone: dict, scope: str) -> type:
    """The class a backbone config builds (``type`` may be a class, a name or ``scope.Name``)."""
    kind = backbone.get('type')
    if isinstance(kind, type):
        return kind
    registry = importlib.import_module(f'{scope}.registry').MODELS
    cls = registry.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(f'--pretrained: model.backbone type {kind!r} is not registered in the '
                          f'{scope} scope')
    return cls


def apply_pretrained(cfg: Config, checkpoint: str) -> str:
    """Point the encoder's ``init_cfg`` at ``checkpoint`` (``--pretrained``).

    Args:
        cfg: The config (its ``default_scope`` must be registered already, see
            :func:`~cmae_mm.engine.runner.register_scope`); modified in place.
        checkpoint: The checkpoint path or URI.

    Returns:
        The dotted path of the encoder config that was changed.

    Raises:
        ConfigError: No ``model.backbone``; a backbone type that does not load strictly; a
            ``load_from`` that would replace the initialised weights.
        CheckpointMismatchError: A checkpoint of timm's layout or without encoder weights.
        UnsafeCheckpointError: A checkpoint holding non-allowlisted objects.
    """
    path, backbone = find_backbone(cfg)
    cls = _backbone_class(backbone, cfg.get('default_scope'))
    # set by cmae_mm.models.backbones.strict_pretrained.StrictPretrainedMixin
    if not getattr(cls, 'loads_pretrained_strictly', False):
        raise ConfigError(
            f'--pretrained loads an encoder strictly, which {path} type {cls.__name__} does not '
            f'do (the suite\'s downstream encoders do: TransferViT, TransferSwin, '
            f'TransferConvNeXt); set {path}.init_cfg with --cfg-options instead')
    if cfg.get('load_from') and not cfg.get('resume', False):
        raise ConfigError(f'--pretrained with load_from={cfg.load_from!r}: load_from replaces '
                          f'every weight after initialisation; drop one of them')
    prefix = encoder_prefix(checkpoint_keys(checkpoint), checkpoint)
    old = backbone.get('init_cfg')
    backbone['init_cfg'] = ConfigDict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
    model = cfg.model
    if model.get('pretrained') is not None:  # mmseg's EncoderDecoder would pass it to the backbone
        print_log(f'--pretrained: model.pretrained={model.pretrained!r} -> None',
                  logger='current', level=logging.WARNING)
        model.pretrained = None
    print_log(f"--pretrained: {path}.init_cfg = {dict(backbone['init_cfg'])} (was {old!r})",
              logger='current')
    return path
