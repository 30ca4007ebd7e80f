"""Encoder checkpoints: select, load strictly, and convert (mmpretrain ViT -> timm ViT).

A Conditional MAE pre-training checkpoint (a Runner checkpoint of :class:`ConditionalMAE`) holds
the encoder under ``backbone.*`` in the key layout of mmpretrain's ``VisionTransformer`` — the
layout of every downstream encoder of this suite (classification, mmdet, mmseg). mmengine's
``Pretrained`` initialiser loads such weights non-strictly and only logs mismatches; the helpers
here report missing and unexpected keys and raise on any that are not expected by design.
"""
import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.runner import CheckpointLoader
from torch import nn

__all__ = ['CONVERSIONS', 'CheckpointMismatchError', 'EncoderSpec', 'TIMM_KEY_MAP',
           'convert_encoder', 'encoder_spec', 'encoder_state', 'load_encoder_state',
           'read_checkpoint', 'read_state_dict', 'to_timm']

StateDict = Dict[str, torch.Tensor]

# mmpretrain VisionTransformer key -> timm VisionTransformer key (regular expressions).
TIMM_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
)


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys do not fit a module (beyond the differences expected by design)."""


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint on CPU: a dict holding ``state_dict`` (and ``meta`` if it has one).

    Args:
        path: A Runner checkpoint (``{'state_dict': ..., 'meta': ...}``) or a plain state dict;
            a local path or any URI mmengine's ``CheckpointLoader`` reads (``https://``, ...).

    Returns:
        ``{'state_dict': name -> tensor, 'meta': dict}`` (``meta`` empty for a plain state dict).
    """
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(f'{path} holds a {type(ckpt).__name__}, not a state dict')
    if isinstance(ckpt.get('state_dict'), dict):
        return dict(state_dict=ckpt['state_dict'], meta=ckpt.get('meta') or {})
    return dict(state_dict=ckpt, meta={})


def read_state_dict(path: str) -> StateDict:
    """The state dict of a checkpoint (see :func:`read_checkpoint`), loaded on CPU."""
    return read_checkpoint(path)['state_dict']


def encoder_state(state: StateDict, prefix: str = 'backbone.', source: str = 'checkpoint'
                  ) -> StateDict:
    """The entries of ``state`` under ``prefix``, with the prefix removed.

    Args:
        state: A state dict.
        prefix: Key prefix of the encoder (``'backbone.'`` in a pre-training checkpoint; ``''``
            for a backbone-only checkpoint written by ``tools/model_converters``).
        source: Name of the checkpoint, for the error message.

    Returns:
        The encoder's state dict.

    Raises:
        CheckpointMismatchError: If no key starts with ``prefix``; the message lists the key
            groups the checkpoint does have.
    """
    if not prefix:
        return dict(state)
    selected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not selected:
        groups = sorted({k.split('.')[0] for k in state})
        raise CheckpointMismatchError(
            f'{source} has no keys with prefix {prefix!r}; its keys start with {groups}. '
            "A backbone-only checkpoint (tools/model_converters) needs prefix ''.")
    return selected


def _unexplained(keys: Iterable[str], patterns: Sequence[str]) -> List[str]:
    return sorted(k for k in keys if not any(fnmatch.fnmatchcase(k, p) for p in patterns))


def load_encoder_state(module: nn.Module, state: StateDict, allowed_missing: Sequence[str] = (),
                       allowed_unexpected: Sequence[str] = (), source: str = 'checkpoint'
                       ) -> Tuple[List[str], List[str]]:
    """Load ``state`` into ``module``, failing on any key difference not allowed explicitly.

    The module's own ``load_state_dict`` pre-hooks run (e.g. mmpretrain's ViT resizes a
    checkpoint's position embeddings to its grid).

    Args:
        module: The module to load into.
        state: Its state dict (no prefix).
        allowed_missing: Glob patterns of module keys allowed to be absent from ``state`` (new
            layers by design, e.g. ``'ln2.*'`` of a pooled classification head's norm).
        allowed_unexpected: Glob patterns of ``state`` keys allowed to be unused (e.g. ``'ln1.*'``,
            the pre-training final norm, when the downstream encoder has none).
        source: Name of the checkpoint, for messages.

    Returns:
        The missing and the unexpected keys (all of them allowed).

    Raises:
        CheckpointMismatchError: Naming every missing and unexpected key that is not allowed.
            Nothing is loaded in that case.
    """
    own = set(module.state_dict())
    missing = sorted(own - set(state))
    unexpected = sorted(set(state) - own)
    bad_missing = _unexplained(missing, allowed_missing)
    bad_unexpected = _unexplained(unexpected, allowed_unexpected)
    if bad_missing or bad_unexpected:
        raise CheckpointMismatchError(
            f'{source} does not fit {type(module).__name__}: missing keys {bad_missing}, '
            f'unexpected keys {bad_unexpected} (allowed by design: missing '
            f'{list(allowed_missing)}, unexpected {list(allowed_unexpected)})')
    result = module.load_state_dict(state, strict=False)
    return sorted(result.missing_keys), sorted(result.unexpected_keys)


def to_timm(state: StateDict) -> StateDict:
    """Rename an mmpretrain ViT encoder state dict to timm's ``VisionTransformer`` layout.

    Args:
        state: Encoder weights without prefix (``cls_token``, ``pos_embed`` (1, 1 + N, C),
            ``patch_embed.projection.*``, ``layers.<i>.*``, ``ln1.*`` = final norm).

    Returns:
        The same tensors under timm's names (``patch_embed.proj.*``, ``blocks.<i>.*``, ``norm.*``).

    Raises:
        CheckpointMismatchError: If a key has no timm counterpart.
    """
    out, unknown = {}, []
    for key, value in state.items():
        new: Optional[str] = key if key in ('cls_token', 'pos_embed') else None
        for pattern, repl in TIMM_KEY_MAP:
            if new is None and re.match(pattern, key):
                new = re.sub(pattern, repl, key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise CheckpointMismatchError(f'keys without a timm counterpart: {sorted(unknown)}')
    return out


# ---- Conversion for downstream use ------------------------------------------------------------
CONVERSIONS = ('vit', 'timm')


@dataclass(frozen=True)
class EncoderSpec:
    """The shape of a plain ViT encoder.

    Attributes:
        embed_dims: Token width ``C``.
        num_layers: Number of blocks.
        num_heads: Attention heads per block.
        feedforward_channels: Hidden width of the MLPs.
        img_size: Input side the position embeddings were trained at.
        patch_size: Patch side.
    """

    embed_dims: int
    num_layers: int
    num_heads: int
    feedforward_channels: int
    img_size: int
    patch_size: int

    @property
    def arch(self) -> dict:
        """The mmpretrain ``VisionTransformer`` ``arch`` dict."""
        return dict(embed_dims=self.embed_dims, num_layers=self.num_layers,
                    num_heads=self.num_heads, feedforward_channels=self.feedforward_channels)


def encoder_spec(state: StateDict, meta: Optional[dict] = None,
                 arch: Union[str, dict, None] = None) -> EncoderSpec:
    """Read an encoder's shape: the architecture from the pre-training config, sizes from weights.

    Args:
        state: Encoder weights without prefix (mmpretrain ViT layout).
        meta: The checkpoint's ``meta``; a Runner checkpoint keeps its config text under
            ``meta['cfg']``, whose ``model.backbone.arch`` gives the number of heads; a
            checkpoint written by ``tools/model_converters/convert_cmae.py`` keeps ``meta['arch']``.
        arch: mmpretrain ViT arch (name such as ``'b'``, ``'deit-small'``, ``'l'``, or dict),
            overriding the config's; needed for a checkpoint without a config.

    Returns:
        The encoder's :class:`EncoderSpec`.

    Raises:
        ValueError: If no architecture is known, or it does not match the weights.
        CheckpointMismatchError: If ``state`` lacks the patch embedding, position embeddings or
            blocks.
    """
    from mmengine.config import Config
    from mmpretrain.models import VisionTransformer

    meta = meta or {}
    if arch is None and meta.get('cfg'):
        arch = Config.fromstring(meta['cfg'], '.py').model.backbone.get('arch', 'b')
    arch = meta.get('arch') if arch is None else arch  # a backbone-only checkpoint of convert_cmae
    if arch is None:
        raise ValueError('the checkpoint holds no pre-training config (meta.cfg): name the '
                         f'architecture, one of {sorted(VisionTransformer.arch_zoo)} or a dict')
    if isinstance(arch, str):
        if arch.lower() not in VisionTransformer.arch_zoo:
            raise ValueError(f'unknown ViT arch {arch!r}; known: {sorted(VisionTransformer.arch_zoo)}')
        arch = VisionTransformer.arch_zoo[arch.lower()]
    absent = [k for k in ('patch_embed.projection.weight', 'pos_embed') if k not in state]
    if absent or not any(k.startswith('layers.') for k in state):
        raise CheckpointMismatchError(f'not a ViT encoder: missing keys {absent or ["layers.*"]}')
    proj = state['patch_embed.projection.weight']  # (C, 3, p, p)
    grid = math.isqrt(state['pos_embed'].shape[1] - 1)
    spec = EncoderSpec(
        embed_dims=int(arch['embed_dims']), num_layers=int(arch['num_layers']),
        num_heads=int(arch['num_heads']), feedforward_channels=int(arch['feedforward_channels']),
        img_size=grid * proj.shape[-1], patch_size=proj.shape[-1])
    depth = 1 + max(int(k.split('.')[1]) for k in state if k.startswith('layers.'))
    if (proj.shape[0], depth) != (spec.embed_dims, spec.num_layers):
        raise ValueError(f'arch {spec.arch} does not match the weights: {proj.shape[0]}-d tokens, '
                         f'{depth} blocks')
    return spec


def build_vit(spec: EncoderSpec) -> nn.Module:
    """mmpretrain's ``VisionTransformer`` of ``spec``, returning all tokens after the final norm."""
    from mmpretrain.models import VisionTransformer

    return VisionTransformer(arch=spec.arch, img_size=spec.img_size, patch_size=spec.patch_size,
                             out_type='raw', final_norm=True)


def build_timm_vit(spec: EncoderSpec) -> nn.Module:
    """timm's ``VisionTransformer`` of ``spec`` without a classifier (``num_classes=0``), i.e.
    ``timm.create_model('vit_base_patch16_224', num_classes=0)`` for ViT-B/16."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=spec.img_size, patch_size=spec.patch_size,
                             embed_dim=spec.embed_dims, depth=spec.num_layers,
                             num_heads=spec.num_heads,
                             mlp_ratio=spec.feedforward_channels / spec.embed_dims, num_classes=0)


def convert_encoder(path: str, to: str = 'vit', arch: Union[str, dict, None] = None,
                    prefix: str = 'backbone.', atol: float = 1e-4
                    ) -> Tuple[StateDict, EncoderSpec, float]:
    """Extract the encoder of a (Conditional) MAE checkpoint for downstream use, checked.

    The encoder weights are first loaded strictly into an mmpretrain ``VisionTransformer`` of the
    checkpoint's architecture (every key used, none missing). For ``to='timm'`` they are renamed
    (:func:`to_timm`), loaded strictly into timm's ``VisionTransformer``, and both models must
    give the same tokens for the same random image.

    Args:
        path: A pre-training checkpoint (or a backbone-only one with ``prefix=''``).
        to: ``'vit'`` (mmpretrain ViT keys: the encoder of every downstream config of this suite,
            classification, Mask R-CNN and UperNet) or ``'timm'``.
        arch: Architecture override (see :func:`encoder_spec`).
        prefix: Key prefix of the encoder in the checkpoint.
        atol: Largest allowed absolute difference of the two models' tokens (``to='timm'``).

    Returns:
        The converted state dict, the encoder's spec, and the largest token difference between
        the source and the converted model (0 for ``'vit'``).

    Raises:
        ValueError: On an unknown ``to`` or architecture.
        CheckpointMismatchError: If a key is missing, unused or unknown, or the features differ.
    """
    if to not in CONVERSIONS:
        raise ValueError(f'unknown target format {to!r}; choose from {CONVERSIONS}')
    ckpt = read_checkpoint(path)
    state = encoder_state(ckpt['state_dict'], prefix, path)
    spec = encoder_spec(state, ckpt['meta'], arch)
    vit = build_vit(spec)
    vit.eval()  # (mmpretrain backbones' train() returns None: no chaining)
    load_encoder_state(vit, state, source=path)
    if to == 'vit':
        return state, spec, 0.
    timm_state = to_timm(state)
    model = build_timm_vit(spec)
    model.eval()
    load_encoder_state(model, timm_state, source=f'{path} (timm keys)')
    x = torch.randn(2, 3, spec.img_size, spec.img_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (vit(x)[0] - model.forward_features(x)).abs().max().item()
    if diff > atol:
        raise CheckpointMismatchError(f'the timm model computes other tokens than the source '
                                      f'encoder (max abs difference {diff:.3g} > {atol})')
    return timm_state, spec, diff
