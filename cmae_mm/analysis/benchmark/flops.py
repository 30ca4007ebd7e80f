"""FLOP counting of a training step: torch's FlopCounterMode with the suite's corrections
(:data:`FLOP_FIXES`), and the tokens / cells each layer computes (:class:`Visibility`).
"""
import math
from dataclasses import dataclass
from itertools import groupby
from typing import Dict, List

import torch
from torch.utils.flop_counter import (FlopCounterMode, conv_flop_count, sdpa_backward_flop_count,
                                      sdpa_flop_count)

from .models import find_transform


def _sdpa_cpu_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``_scaled_dot_product_flash_attention_for_cpu`` (shapes; torch's SDPA formula)."""
    return sdpa_flop_count(query, key, value)


def _sdpa_cpu_backward_flop(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of its backward (torch's SDPA backward formula)."""
    return sdpa_backward_flop_count(grad_out, query, key, value)


def _conv_backward_flop(grad_out, x, w, bias_sizes, stride, padding, dilation, transposed,
                        output_padding, groups, output_mask, out_shape=None) -> int:
    """FLOPs of ``convolution_backward``: each requested gradient costs one forward convolution.

    torch's own formula counts the weight gradient of a grouped convolution as if it were dense
    (``groups`` times too many: x128-x1024 for ConvNeXt's depthwise 7x7 convolutions).
    """
    forward = conv_flop_count(x, w, grad_out, transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


#: Corrections to torch's FLOP registry: the CPU flash-attention kernels that SDPA dispatches to on
#: CPU are missing, and the grouped-convolution backward is over-counted.
FLOP_FIXES = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flop,
    torch.ops.aten.convolution_backward: _conv_backward_flop,
}


@dataclass
class Visibility:
    """What each encoder block / stage sees of the image.

    Args:
        unit: ``'tokens'`` (ViT: patch tokens, CLS excluded) or ``'cells'`` (visible mask cells).
        layer: ``'block'`` or ``'stage'``.
        total: Tokens or cells of the whole image.
        per_layer: Visible tokens / cells at the input of each block / stage.
        computed: Positions each layer computes (ViT: visible tokens + CLS; Swin, ConvNeXt: the
            whole grid, masked positions included).
    """

    unit: str
    layer: str
    total: int
    per_layer: List[int]
    computed: List[str]

    def runs(self) -> str:
        """Run-length text, e.g. ``'49x10 44x2'`` (tokens) or ``'14/36x3 12/36'`` (cells)."""
        parts = []
        for n, g in groupby(self.per_layer):
            count = sum(1 for _ in g)
            value = str(n) if self.unit == 'tokens' else f'{n}/{self.total}'
            parts.append(value + (f'x{count}' if count > 1 else ''))
        return ' '.join(parts)


def visibility(model: torch.nn.Module, cfg) -> Visibility:
    """Tokens (ViT) or visible mask cells (Swin, ConvNeXt) per block / stage of a masked model.

    Args:
        model: A built pre-training model (MAE, ConditionalMAE, SimMIM, CMAESimMIM or FCMAE).
        cfg: Its config (for SimMIM's mask generator).

    Returns:
        Visibility: The per-layer counts.

    Raises:
        ValueError: For a backbone this function does not know.
    """
    backbone = model.backbone
    name = type(backbone).__name__
    schedule = getattr(backbone, 'schedule', None)
    if hasattr(backbone, 'num_patches') and hasattr(backbone, 'layers'):  # ViT
        n = backbone.num_patches
        if schedule is not None:
            per_layer = schedule.tokens_per_layer(n)
        else:
            per_layer = [int(n * (1 - backbone.mask_ratio))] * backbone.num_layers
        return Visibility('tokens', 'block', n, per_layer, [str(t + 1) for t in per_layer])
    if hasattr(backbone, 'stages') and hasattr(backbone, 'patch_resolution'):  # Swin
        h, w = backbone.patch_resolution
        grids = [f'{h >> i}x{w >> i}' for i in range(len(backbone.stages))]
        if schedule is not None:
            return Visibility('cells', 'stage', backbone.num_cells,
                              schedule.tokens_per_layer(backbone.num_cells), grids)
        gen = find_transform(cfg, 'SimMIMMaskGenerator')
        if gen is None:
            raise ValueError(f'{name}: no SimMIMMaskGenerator in the config\'s train pipeline')
        cells = (gen['input_size'] // gen['mask_patch_size'])**2
        visible = cells - math.ceil(cells * gen['mask_ratio'])
        return Visibility('cells', 'stage', cells, [visible] * len(backbone.stages), grids)
    if hasattr(backbone, 'downsample_layers') and schedule is not None:  # ConvNeXt (FCMAE)
        size = backbone.img_size
        grids = [f'{size // s}x{size // s}' for s in backbone.stage_strides]
        return Visibility('cells', 'stage', backbone.num_cells,
                          schedule.tokens_per_layer(backbone.num_cells), grids)
    raise ValueError(f'do not know how to read the visibility of backbone {name}')


def op_category(name: str) -> str:
    """Category of an aten op (``'aten::mm'`` or ``'aten.mm'``) for FLOP and time breakdowns."""
    n = name.replace('aten.', 'aten::').split('.')[0] if name.startswith('aten.') else name
    base = n[len('aten::'):] if n.startswith('aten::') else n
    if base in ('mm', 'addmm', 'bmm', 'baddbmm', 'addbmm', '_addmm_activation', 'matmul',
                'linear', 'einsum'):
        return 'matmul (mm, addmm, bmm)'
    if 'conv' in base:
        return 'convolution'
    if 'scaled_dot_product' in base or 'attention' in base:
        return 'attention (SDPA kernels)'
    if 'softmax' in base:
        return 'softmax'
    if 'layer_norm' in base:
        return 'LayerNorm'
    if 'gelu' in base:
        return 'GELU'
    if any(k in base for k in ('gather', 'scatter', 'sort', 'rand', 'uniform', 'index',
                               'take_along', 'repeat_interleave', 'nonzero', 'masked')):
        return 'gather/scatter/sort/rand (masking, unshuffle)'
    if any(k in base for k in ('cat', 'copy', 'clone', 'contiguous', 'stack', 'fill', 'zero',
                               'to', 'empty', 'repeat', 'pad', 'roll')):
        return 'copies (cat, copy, clone, fill)'
    if n.startswith('aten::'):
        return 'other aten (elementwise, reductions)'
    return 'framework (autograd engine, annotations)'


@dataclass
class FlopCount:
    """FLOPs of one forward and one forward+backward (whole batch), total and per aten op."""

    forward: int
    forward_backward: int
    by_op: Dict[str, int]


def count_step_flops(model: torch.nn.Module, optim_wrapper, data: dict) -> FlopCount:
    """FLOPs of a training forward and forward+backward (FlopCounterMode, 2 per multiply-add).

    Runs the model's data preprocessor, the loss forward in the optimizer wrapper's context
    (autocast with AMP) and the backward; the gradients are then cleared (no optimizer step).
    """
    with FlopCounterMode(display=False, custom_mapping=FLOP_FIXES) as counter:
        with optim_wrapper.optim_context(model):
            processed = model.data_preprocessor(data, True)
            losses = model(**processed, mode='loss')
        loss, _ = model.parse_losses(losses)
        forward = counter.get_total_flops()
        loss.backward()
    model.zero_grad(set_to_none=True)
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get('Global', {}).items()}
    return FlopCount(forward, counter.get_total_flops(), by_op)
