"""Visible tokens / cells and forward FLOPs per layer of one pre-training config
(``tools/analysis/get_flops.py``).
"""
import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from .flops import FLOP_FIXES, Visibility, visibility
from .models import BatchMaker, build_model, find_transform, load_config
from .report import silence_mmengine_logs


class _LossForward(torch.nn.Module):
    """``forward(inputs[, mask]) -> loss`` of a pre-training model, for tracing.

    Args:
        model: The pre-training model (already preprocessed inputs are fed).
        with_mask: Feed a SimMIM mask (as ``data_sample.mask``).
    """

    def __init__(self, model: torch.nn.Module, with_mask: bool) -> None:
        super().__init__()
        self.model, self.with_mask = model, with_mask

    def forward(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        from mmpretrain.structures import DataSample

        samples = [DataSample() for _ in range(inputs.shape[0])]
        if self.with_mask:
            for sample, m in zip(samples, mask):
                sample.set_field(m, 'mask', dtype=torch.Tensor)
        losses = self.model(inputs, samples, mode='loss')
        return losses['loss']


def _sdpa_jit_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """mmengine FlopAnalyzer handle for ``aten::scaled_dot_product_attention`` (multiply-adds)."""
    from mmengine.analysis.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _exclusive(inclusive: Dict[str, int]) -> Dict[str, int]:
    """Per-module counts without their counted submodules (keys: dotted module names)."""
    keys = [k for k, v in inclusive.items() if v]
    parent = {}
    for k in keys:
        best = None
        for a in keys:
            if a != k and (a == '' or k.startswith(a + '.')) and (best is None
                                                                   or len(a) > len(best)):
                best = a
        parent[k] = best
    excl = {k: inclusive[k] for k in keys}
    for k, p in parent.items():
        if p is not None:
            excl[p] -= inclusive[k]
    return excl


def _sum_under(excl: Dict[str, int], prefix: str) -> int:
    return sum(v for k, v in excl.items() if k == prefix or k.startswith(prefix + '.'))


def _layer_prefixes(model: torch.nn.Module, vis: Visibility) -> List[Tuple[str, List[str]]]:
    """(label, module-name prefixes) per encoder block / stage."""
    backbone = model.backbone
    if vis.layer == 'block':
        return [(f'block {i}', [f'backbone.layers.{i}']) for i in range(len(vis.per_layer))]
    out = []
    for i in range(len(vis.per_layer)):
        prefixes = [f'backbone.stages.{i}']
        if hasattr(backbone, 'downsample_layers'):
            prefixes.append(f'backbone.downsample_layers.{i}')
        out.append((f'stage {i}', prefixes))
    return out


def run_get_flops(config: str, cfg_options: Optional[Dict[str, Any]] = None,
                  batch_size: int = 1) -> Dict[str, Any]:
    """Print the per-block / per-stage visibility and forward FLOPs per image of a config's model.

    The masked pre-training forward (encoder, decoder, loss) is counted once on random images
    (and a real SimMIM mask for Swin). It uses mmengine's :class:`~mmengine.analysis.FlopAnalyzer`
    (a jit trace; one multiply-add counts as one FLOP, fvcore's convention, reported here as
    GMACs) with a handle added for ``aten::scaled_dot_product_attention``; when the trace fails,
    :class:`~torch.utils.flop_counter.FlopCounterMode`. The total is also given by
    FlopCounterMode in GFLOPs (2 per multiply-add) as a cross-check with the benchmark.

    Args:
        config: A pre-training config of the suite (or a stock mmpretrain one).
        cfg_options: ``{dotted.key: value}`` overrides (``--cfg-options``).
        batch_size: Images in the traced batch (results are per image).

    Returns:
        dict: ``counter``, ``visibility``, ``per_layer`` GMACs, ``encoder``/``decoder``/``head``/
        ``total`` GMACs and ``flopcounter_gflops`` per image.
    """
    import warnings

    silence_mmengine_logs()
    cfg = load_config(config, cfg_options)
    torch.manual_seed(0)
    model = build_model(cfg, torch.device('cpu'), init=False)
    vis = visibility(model, cfg)
    batch = BatchMaker(cfg, batch_size)()
    processed = model.data_preprocessor(batch, True)
    inputs = processed['inputs']
    with_mask = find_transform(cfg, 'SimMIMMaskGenerator') is not None and hasattr(
        model.backbone, 'patch_resolution')
    args = (inputs, ) + ((torch.stack([s.mask for s in processed['data_samples']]), )
                         if with_mask else ())
    wrapper = _LossForward(model, with_mask)

    counter = ('mmengine.analysis.FlopAnalyzer (jit trace; 1 multiply-add = 1 FLOP, '
               "fvcore's convention, shown as GMACs; + a handle for "
               'aten::scaled_dot_product_attention)')
    try:
        from mmengine.analysis import FlopAnalyzer
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.manual_seed(0)
            analyzer = FlopAnalyzer(wrapper, args)
            analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_jit_handle)
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            analyzer.tracer_warnings('none')
            inclusive = {k[len('model.'):] if k.startswith('model.') else
                         ('' if k in ('', 'model') else k): int(v)
                         for k, v in analyzer.by_module().items()}
            inclusive[''] = int(analyzer.total())
    except Exception as e:  # noqa: BLE001  (any trace failure: fall back)
        counter = (f'torch FlopCounterMode, halved to multiply-adds (GMACs) (the jit trace of '
                   f'mmengine FlopAnalyzer failed: {type(e).__name__}: {str(e)[:120]})')
        torch.manual_seed(0)
        with FlopCounterMode(display=False, custom_mapping=FLOP_FIXES) as fc:
            wrapper(*args)
        root = type(wrapper).__name__
        inclusive = {}
        for k, ops in fc.get_flop_counts().items():
            if k == 'Global':
                continue
            name = k[len(root):].lstrip('.')
            name = name[len('model'):].lstrip('.') if name.startswith('model') else name
            inclusive[name] = sum(ops.values()) // 2
        inclusive[''] = fc.get_total_flops() // 2
    torch.manual_seed(0)
    with FlopCounterMode(display=False, custom_mapping=FLOP_FIXES) as fc:
        wrapper(*args)
    check = fc.get_total_flops() / batch_size / 1e9

    excl = _exclusive(inclusive)
    per = lambda n: n / batch_size / 1e9  # noqa: E731
    layers = []
    for (label, prefixes), visible, grid in zip(_layer_prefixes(model, vis), vis.per_layer,
                                                 vis.computed):
        layers.append(dict(layer=label, visible=visible, computed=grid,
                           gmacs=per(sum(_sum_under(excl, p) for p in prefixes))))
    parts = {k: per(_sum_under(excl, k)) for k in ('backbone', 'neck', 'head')}
    total = per(inclusive[''])
    result = dict(config=config, counter=counter, batch_size=batch_size,
                  model=type(model).__name__, backbone=type(model.backbone).__name__,
                  schedule=str(getattr(model.backbone, 'schedule', '')) or None,
                  visibility=dict(unit=vis.unit, layer=vis.layer, total=vis.total,
                                  per_layer=vis.per_layer, runs=vis.runs()),
                  per_layer=layers, encoder_gmacs=parts['backbone'], decoder_gmacs=parts['neck'],
                  head_gmacs=parts['head'], total_gmacs=total, flopcounter_gflops=check)

    size = inputs.shape[-1]
    print(f'{config}: {result["model"]} / {result["backbone"]}'
          + (f' {result["schedule"]}' if result['schedule'] else '')
          + f', input {batch_size}x3x{size}x{size}')
    print(f'counter: {counter}')
    what = ('patch tokens (CLS excluded)' if vis.unit == 'tokens'
            else f'visible mask cells of {vis.total}')
    print(f'{what} per {vis.layer}: {vis.runs()}')
    print()
    computed = 'tokens computed (+CLS)' if vis.unit == 'tokens' else 'grid computed'
    print(f'| {vis.layer} | visible {vis.unit} | {computed} | GMACs/img |')
    print('|---|---:|---:|---:|')
    for row in layers:
        visible = row['visible'] if vis.unit == 'tokens' else f"{row['visible']}/{vis.total}"
        print(f"| {row['layer']} | {visible} | {row['computed']} | {row['gmacs']:.3f} |")
    print()
    print(f"encoder {parts['backbone']:.3f} + decoder {parts['neck']:.3f} + head "
          f"{parts['head']:.3f} = {total:.3f} GMACs per image (forward)")
    print(f'FlopCounterMode cross-check: {check:.3f} GFLOPs per image (2 FLOPs per '
          f'multiply-add; matmul, convolution and attention only)')
    return result
