"""Extract the encoder of a Conditional MAE (or MAE) pre-training checkpoint for downstream use.

The command line is ``tools/model_converters/convert_cmae.py``; it calls :func:`export_encoder`.

Formats (``to``):

* ``vit`` (default): mmpretrain ``VisionTransformer`` keys without prefix, in a slim checkpoint
  ``{'state_dict': ..., 'meta': ...}`` (no decoder, no optimizer). It is the encoder layout of
  every downstream config of this suite (classification, Mask R-CNN, UperNet); load it with
  ``model.backbone.init_cfg.prefix=''``.
* ``timm``: a plain state dict for timm's ViT without classifier, loadable with ``strict=True``:
  ``timm.create_model('vit_base_patch16_224', num_classes=0).load_state_dict(torch.load(DST))``.

The architecture is read from the weights (token width, depth, MLP width) and the head count from
``VisionTransformer.arch_zoo``; for a custom width the head count comes from the checkpoint's
stored config *parsed as data* (never executed) or from ``arch`` (``--arch``).

Every conversion is checked before anything is written (:func:`convert_encoder`): the encoder
must fill an mmpretrain ViT of the checkpoint's architecture exactly (no missing, no unused key),
and a timm export must load strictly and compute the same tokens as the source encoder. Nothing
is written on a mismatch, and an existing output is never overwritten without ``force``.
"""
import ast
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..engine.checkpoint import (CheckpointMismatchError, encoder_state, load_encoder_state,
                                 read_checkpoint)

__all__ = ['CONVERSIONS', 'EncoderExport', 'EncoderSpec', 'TIMM_KEY_MAP', 'build_timm_vit',
           'build_vit', 'convert_encoder', 'encoder_spec', 'export_encoder', 'parse_arch',
           'to_timm']

StateDict = Dict[str, torch.Tensor]
Arch = Union[str, dict, None]

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


def _literal_heads(cfg_text: str) -> Arch:
    """The ``model.backbone.arch`` of a config text, parsed as data (``ast``), never executed.

    Args:
        cfg_text: Python config text (e.g. a checkpoint's ``meta['cfg']``).

    Returns:
        The arch name (``arch='b'``) or a dict of literal entries (``arch=dict(...)``), or None
        when the text holds no such literal.
    """
    try:
        tree = ast.parse(cfg_text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg != 'arch':
                continue
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                return kw.value.value
            if isinstance(kw.value, ast.Call) and getattr(kw.value.func, 'id', None) == 'dict':
                out = {}
                for item in kw.value.keywords:
                    try:
                        out[item.arg] = ast.literal_eval(item.value)
                    except ValueError:
                        continue
                return out
            if isinstance(kw.value, ast.Dict):
                try:
                    return ast.literal_eval(kw.value)
                except ValueError:
                    return None
    return None


def encoder_spec(state: StateDict, meta: Optional[dict] = None, arch: Arch = None) -> EncoderSpec:
    """Read an encoder's shape from its weights; only the head count needs more.

    Token width, depth, MLP width, patch size and image size come from tensor shapes. The number
    of heads (no tensor shape shows it) comes from, in order: ``arch``; the unique entry of
    ``VisionTransformer.arch_zoo`` with the same width, depth and MLP width; ``meta['arch']``
    (written by :func:`export_encoder`); the ``arch`` literal of the stored config text
    ``meta['cfg']``, parsed with ``ast`` as data. Nothing of the checkpoint is executed or
    evaluated.

    Args:
        state: Encoder weights without prefix (mmpretrain ViT layout).
        meta: The checkpoint's ``meta`` (data only).
        arch: mmpretrain ViT arch name (``'b'``, ``'deit-small'``, ...) or dict, overriding.

    Returns:
        The encoder's :class:`EncoderSpec`.

    Raises:
        ValueError: If the head count cannot be found, or ``arch`` does not match the weights.
        CheckpointMismatchError: If ``state`` lacks the patch embedding, position embeddings or
            blocks.
    """
    from mmpretrain.models import VisionTransformer

    zoo = VisionTransformer.arch_zoo
    absent = [k for k in ('patch_embed.projection.weight', 'pos_embed',
                          'layers.0.ffn.layers.0.0.weight') if k not in state]
    if absent:
        raise CheckpointMismatchError(f'not a ViT encoder: missing keys {absent}')
    proj = state['patch_embed.projection.weight']  # (C, 3, p, p)
    dims = int(proj.shape[0])
    depth = 1 + max(int(k.split('.')[1]) for k in state if k.startswith('layers.'))
    ffn = int(state['layers.0.ffn.layers.0.0.weight'].shape[0])
    grid = math.isqrt(state['pos_embed'].shape[1] - 1)
    shape = dict(embed_dims=dims, num_layers=depth, feedforward_channels=ffn)

    def heads_of(candidate: Arch) -> Optional[int]:
        if isinstance(candidate, str):
            if candidate.lower() not in zoo:
                raise ValueError(f'unknown ViT arch {candidate!r}; known: {sorted(zoo)}')
            candidate = zoo[candidate.lower()]
        if not isinstance(candidate, dict) or 'num_heads' not in candidate:
            return None
        other = {k: int(candidate[k]) for k in shape if k in candidate}
        if any(other[k] != shape[k] for k in other):
            raise ValueError(f'arch {dict(candidate)} does not match the weights: {shape}')
        return int(candidate['num_heads'])

    meta = meta or {}
    heads = heads_of(arch)
    if heads is None:
        matches = {int(a['num_heads']) for a in zoo.values()
                   if all(int(a[k]) == v for k, v in shape.items())}
        heads = matches.pop() if len(matches) == 1 else None
    if heads is None and isinstance(meta.get('arch'), dict):
        heads = heads_of(meta['arch'])
    if heads is None and isinstance(meta.get('cfg'), str):
        heads = heads_of(_literal_heads(meta['cfg']))
    if heads is None:
        raise ValueError(f'cannot tell the number of attention heads of a ViT with {shape}: pass '
                         f"--arch (a name of {sorted(zoo)} or a dict such as "
                         f"\"{{'embed_dims': {dims}, 'num_layers': {depth}, 'num_heads': H, "
                         f"'feedforward_channels': {ffn}}}\")")
    return EncoderSpec(embed_dims=dims, num_layers=depth, num_heads=heads,
                       feedforward_channels=ffn, img_size=grid * proj.shape[-1],
                       patch_size=proj.shape[-1])


def build_vit(spec: EncoderSpec) -> nn.Module:
    """mmpretrain's ``VisionTransformer`` of ``spec``, returning all tokens after the final norm.

    Args:
        spec: The encoder's shape.

    Returns:
        The (randomly initialised) mmpretrain ViT.
    """
    from mmpretrain.models import VisionTransformer

    return VisionTransformer(arch=spec.arch, img_size=spec.img_size, patch_size=spec.patch_size,
                             out_type='raw', final_norm=True)


def build_timm_vit(spec: EncoderSpec) -> nn.Module:
    """timm's ``VisionTransformer`` of ``spec`` without a classifier (``num_classes=0``).

    For ViT-B/16 this is ``timm.create_model('vit_base_patch16_224', num_classes=0)``.

    Args:
        spec: The encoder's shape.

    Returns:
        The (randomly initialised) timm ViT.
    """
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=spec.img_size, patch_size=spec.patch_size,
                             embed_dim=spec.embed_dims, depth=spec.num_layers,
                             num_heads=spec.num_heads,
                             mlp_ratio=spec.feedforward_channels / spec.embed_dims, num_classes=0)


def convert_encoder(path: str, to: str = 'vit', arch: Arch = None, prefix: str = 'backbone.',
                    atol: float = 1e-4) -> Tuple[StateDict, EncoderSpec, float]:
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


def parse_arch(arch: Arch) -> Arch:
    """Read an ``--arch`` value: a text starting with ``{`` is a JSON dict, anything else is kept.

    Args:
        arch: An arch name (``'b'``, ``'deit-small'``, ...), a JSON dict text such as
            ``'{"num_heads": 2}'``, a dict, or None.

    Returns:
        The arch name, dict or None, as :func:`encoder_spec` takes it.

    Raises:
        ValueError: If a text starting with ``{`` is not valid JSON.
    """
    if isinstance(arch, str) and arch.lstrip().startswith('{'):
        try:
            return json.loads(arch)
        except json.JSONDecodeError as e:
            raise ValueError(f'--arch {arch!r} is not a JSON dict: {e}') from e
    return arch


@dataclass(frozen=True)
class EncoderExport:
    """What :func:`export_encoder` wrote.

    Attributes:
        dst: The output file, as given.
        to: The key format, ``'vit'`` or ``'timm'``.
        num_tensors: Number of tensors written.
        spec: The encoder's shape.
        diff: Largest token difference between the source encoder and the timm model (0 for
            ``'vit'``).
    """

    dst: str
    to: str
    num_tensors: int
    spec: EncoderSpec
    diff: float

    def format(self) -> str:
        """One human-readable summary line."""
        spec = self.spec
        check = (f'; tokens match the source encoder (max abs difference {self.diff:.2g})'
                 if self.to == 'timm' else '')
        return (f'{self.dst}: {self.num_tensors} tensors, {self.to} keys, {spec.num_layers} '
                f'blocks x {spec.embed_dims}-d, {spec.num_heads} heads, patch {spec.patch_size}, '
                f'{spec.img_size}px; all encoder keys used{check}')


def export_encoder(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], to: str = 'vit',
                   arch: Arch = None, prefix: str = 'backbone.',
                   force: bool = False) -> EncoderExport:
    """Convert the encoder of ``src`` (:func:`convert_encoder`) and write it to ``dst``.

    ``to='vit'`` writes ``{'state_dict': <encoder>, 'meta': {source, format, arch, img_size,
    patch_size}}``; ``to='timm'`` writes the plain timm state dict. Nothing is written if a check
    fails.

    Args:
        src: A pre-training checkpoint (a local file, or a URL holding ``://``).
        dst: The output file; its parent folders are created.
        to: Key format, one of :data:`CONVERSIONS`.
        arch: Architecture override: a name, a dict, or a JSON dict text (:func:`parse_arch`).
        prefix: Key prefix of the encoder in ``src``.
        force: Overwrite an existing ``dst``.

    Returns:
        What was written (:meth:`EncoderExport.format` gives the summary line).

    Raises:
        FileNotFoundError: If the local ``src`` is not a file.
        FileExistsError: If ``dst`` exists and ``force`` is False.
        ValueError: On a bad ``arch`` or ``to``, or an unknown head count.
        CheckpointMismatchError: If a key is missing, unused or unknown, or the features differ.
        UnsafeCheckpointError: If ``src`` holds objects outside the ``weights_only`` allowlist.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if '://' not in src and not Path(src).is_file():
        raise FileNotFoundError(f'checkpoint not found: {src}')
    if Path(dst).exists() and not force:
        raise FileExistsError(f'{dst} exists; pass --force to overwrite it')
    state, spec, diff = convert_encoder(src, to, parse_arch(arch), prefix)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    if to == 'vit':
        meta = dict(source=src, format='mmpretrain VisionTransformer', arch=spec.arch,
                    img_size=spec.img_size, patch_size=spec.patch_size)
        torch.save(dict(state_dict=state, meta=meta), dst)
    else:
        torch.save(state, dst)
    return EncoderExport(dst=dst, to=to, num_tensors=len(state), spec=spec, diff=diff)
