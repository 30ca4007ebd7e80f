"""Pre-training cost of every family of the suite: training-step time, memory and FLOPs.

Two tools call this module:

* ``tools/analysis/benchmark_pretrain.py`` (:func:`run_benchmark`): full training steps of stock
  mmpretrain baselines and the suite's multi-shot variants, measured interleaved in one process.
* ``tools/analysis/get_flops.py`` (:func:`run_get_flops`): tokens / visible cells per block or
  stage and forward FLOPs per image of the masked model of one pre-training config.

Models (``--models`` names; the ViT ones are built for each of ``--archs``):

=====================  ===========================================================  ===========
name                   model (config + overrides)                                   baseline
=====================  ===========================================================  ===========
mae                    stock mmpretrain ``MAE`` / ``MAEViT`` / ``MAEPretrainHead``, mae
                       ``mask_ratio=0.75`` (ViT config of the arch, types replaced)
cmae-1shot             ``ConditionalMAE`` L(0; 0.75)                                mae
cmae-2shot             ``ConditionalMAE`` L(0,10; 0.75,0.1)                         mae
cmae-3shot             ``ConditionalMAE`` L(0,10,11; 0.75,0.1,0.1)                  mae
simmim                 stock mmpretrain ``SimMIM`` Swin-B/w6 at 192 px              simmim
cmae-simmim-1shot      ``CMAESimMIM`` L(0; 0.6)                                     simmim
cmae-simmim-2shot      ``CMAESimMIM`` L(0,3; 0.6,0.1)                               simmim
fcmae-1shot            ``FCMAE`` ConvNeXt V2-B at 224 px, L(0; 0.6)                 fcmae-1shot
fcmae-2shot            ``FCMAE`` L(0,3; 0.6,0.1)                                    fcmae-1shot
=====================  ===========================================================  ===========

The Swin models get a real SimMIM mask per image, drawn by the config's ``SimMIMMaskGenerator``.

What a training step is: ``model.train_step(data, optim_wrapper)`` as mmengine's loop calls it
(data preprocessor, forward, loss parsing, backward, optimizer step with the config's optimizer
wrapper built by :func:`mmengine.optim.build_optim_wrapper`, zero_grad). On CPU, or without
``--amp``, the config's ``AmpOptimWrapper`` is replaced by an ``OptimWrapper`` with the same
optimizer, parameter-wise settings and gradient clipping.

Interleaving: the models of one family (the four ViTs of one arch, the three Swins, the two
ConvNeXts) are held in memory together, with a dense-matmul probe, and measured round-robin: every
round runs one step of each, in an order rotated from round to round. Medians over rounds are
reported; the step-time ratio of a variant to its baseline is the median of the per-round ratios
(paired, so that load changes between rounds cancel). Families are measured one after the other
(all nine B-size models with AdamW states would need about 15 GB).

Memory: on CUDA, ``torch.cuda.max_memory_allocated`` over a step after
``torch.cuda.reset_peak_memory_stats``, minus the memory allocated before it (the step's growth
over the resident parameters, gradients and optimizer states), max over rounds. On CPU torch has
no allocator statistics and ``tracemalloc`` does not see its allocations; the growth of the
process's resident set during one step is measured from the kernel's high-water mark: free heap
memory is returned to the OS (``malloc_trim(0)``), the high-water mark is reset (``5`` written to
``/proc/self/clear_refs``) and ``VmHWM`` after the step minus ``VmRSS`` before it is the step's
peak growth. This works with other models resident in the same process. The measurement runs in
its own interleaved pass (two steps per model, max) between warm-up and the timed rounds, because
returning memory to the OS makes the following step fault its pages in again. If ``clear_refs``
cannot be written, ``ru_maxrss`` deltas are used, which only see growth beyond the process's
earlier peak (reported as a lower bound).

FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention; 2
FLOPs per multiply-add) on one forward+backward of each model, per image, with two corrections
(:data:`FLOP_FIXES`): the CPU kernel of ``scaled_dot_product_attention``
(``_scaled_dot_product_flash_attention_for_cpu``) is missing from torch's registry and is counted
with torch's own SDPA formulas, and torch counts the weight gradient of a grouped (depthwise)
convolution ``groups`` times too high, so ``convolution_backward`` is counted as one forward
convolution per requested gradient. Achieved FLOP/s =
step FLOPs / median step time (the optimizer step counts no FLOP but its time is included), as a
fraction of the dense-matmul peak the tool measures in the same rounds: square fp32 ``torch.mm``
on CPU, in the AMP dtype on CUDA, best of three per round, median over rounds.
"""
import copy
import ctypes
import ctypes.util
import gc
import json
import math
import resource
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.flop_counter import (FlopCounterMode, conv_flop_count, sdpa_backward_flop_count,
                                      sdpa_flop_count)

from .common import cpu_name

ROOT = Path(__file__).resolve().parents[2]

#: Pre-training config of each ViT arch (``--archs``), label and arch overrides.
VIT_ARCHS = {
    's': ('ViT-S/16', 'configs/selfsup/in100/cmae_vit-small-p16_L0-10_r0.75-0.1_in100.py'),
    'b': ('ViT-B/16', 'configs/selfsup/cmae_vitb_300e.py'),
    'l': ('ViT-L/16', 'configs/selfsup/cmae_vitl_300e.py'),
}
SWIN_CONFIGS = {
    1: 'configs/selfsup/simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
    2: 'configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
}
FCMAE_CONFIGS = {
    1: 'configs/selfsup/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py',
    2: 'configs/selfsup/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py',
}
VIT_SCHEDULES = {
    1: ([0], [0.75]),
    2: ([0, 10], [0.75, 0.1]),
    3: ([0, 10, 11], [0.75, 0.1, 0.1]),
}
VIT_MODELS = ('mae', 'cmae-1shot', 'cmae-2shot', 'cmae-3shot')
SWIN_MODELS = ('simmim', 'cmae-simmim-1shot', 'cmae-simmim-2shot')
CONVNEXT_MODELS = ('fcmae-1shot', 'fcmae-2shot')
MODEL_NAMES = VIT_MODELS + SWIN_MODELS + CONVNEXT_MODELS



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


# ----------------------------------------------------------------------------------------------
# Model specifications
# ----------------------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """One benchmarked model: a config plus overrides.

    Args:
        name: ``--models`` name, e.g. ``'cmae-2shot'``.
        group: Family and size measured together, e.g. ``'ViT-B/16'``.
        config: Pre-training config, relative to the repository root.
        overrides: ``--cfg-options``-style ``{dotted.key: value}`` merged into the config.
        drop: Dotted keys removed from the config after the merge.
        baseline: Name of the model of ``group`` the ratios refer to.
        schedule: Human-readable masking schedule.
    """

    name: str
    group: str
    config: str
    overrides: Dict[str, Any] = field(default_factory=dict)
    drop: Tuple[str, ...] = ()
    baseline: str = ''
    schedule: str = ''

    @property
    def label(self) -> str:
        """``name (group)``, the row label."""
        return f'{self.name} ({self.group})'


def model_specs(models: Sequence[str] = MODEL_NAMES,
                archs: Sequence[str] = ('b', )) -> List[ModelSpec]:
    """The selected models, grouped by family (in the order of :data:`MODEL_NAMES`).

    Args:
        models: Names among :data:`MODEL_NAMES`.
        archs: ViT archs among ``'s'``, ``'b'``, ``'l'`` (each gives one ViT group).

    Returns:
        List[ModelSpec]: One spec per selected (model, arch).

    Raises:
        ValueError: On an unknown model name or arch.
    """
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f'unknown model(s) {unknown}: choose among {list(MODEL_NAMES)}')
    bad = [a for a in archs if a not in VIT_ARCHS]
    if bad:
        raise ValueError(f'unknown ViT arch(s) {bad}: choose among {list(VIT_ARCHS)}')
    specs = []
    for arch in archs:
        group, config = VIT_ARCHS[arch]
        for name in VIT_MODELS:
            if name not in models:
                continue
            if name == 'mae':
                specs.append(ModelSpec(
                    name, group, config,
                    overrides={'model.type': 'MAE', 'model.backbone.type': 'MAEViT',
                               'model.backbone.mask_ratio': 0.75,
                               'model.head.type': 'MAEPretrainHead'},
                    drop=('model.backbone.mask_layers', 'model.backbone.mask_ratios',
                          'model.head.shot_weights'),
                    baseline='mae', schedule='MAE 0.75'))
            else:
                layers, ratios = VIT_SCHEDULES[int(name[5])]
                specs.append(ModelSpec(
                    name, group, config,
                    overrides={'model.backbone.mask_layers': layers,
                               'model.backbone.mask_ratios': ratios},
                    baseline='mae', schedule=_schedule_text(layers, ratios)))
    for name in SWIN_MODELS:
        if name not in models:
            continue
        if name == 'simmim':
            specs.append(ModelSpec(
                name, 'Swin-B/w6 192px', SWIN_CONFIGS[1],
                overrides={'model.type': 'SimMIM',
                           'model.backbone.type': 'SimMIMSwinTransformer'},
                drop=('model.backbone.mask_layers', 'model.backbone.mask_ratios'),
                baseline='simmim', schedule='SimMIM 0.6'))
        else:
            shots = int(name[-5])
            layers, ratios = ([0], [0.6]) if shots == 1 else ([0, 3], [0.6, 0.1])
            specs.append(ModelSpec(name, 'Swin-B/w6 192px', SWIN_CONFIGS[shots],
                                   baseline='simmim', schedule=_schedule_text(layers, ratios)))
    for name in CONVNEXT_MODELS:
        if name not in models:
            continue
        shots = int(name[-5])
        layers, ratios = ([0], [0.6]) if shots == 1 else ([0, 3], [0.6, 0.1])
        specs.append(ModelSpec(name, 'ConvNeXtV2-B 224px', FCMAE_CONFIGS[shots],
                               baseline='fcmae-1shot', schedule=_schedule_text(layers, ratios)))
    return specs


def _schedule_text(layers: Sequence[int], ratios: Sequence[float]) -> str:
    return f"L({','.join(map(str, layers))}; {','.join(f'{r:g}' for r in ratios)})"


def load_config(config: str, overrides: Optional[Dict[str, Any]] = None,
                drop: Sequence[str] = ()):
    """Read a config, merge ``overrides`` and remove the ``drop`` keys.

    Args:
        config: Config path (absolute, or relative to the working directory or the repository).
        overrides: ``{dotted.key: value}`` as ``--cfg-options``.
        drop: Dotted keys to delete (missing ones are ignored).

    Returns:
        mmengine.config.Config: The config.

    Raises:
        FileNotFoundError: If the config does not exist.
    """
    import cmae_mm  # noqa: F401  (registers the suite's modules)
    from mmengine.config import Config

    path = Path(config)
    if not path.is_file() and (ROOT / config).is_file():
        path = ROOT / config
    if not path.is_file():
        raise FileNotFoundError(f'config {config} does not exist')
    cfg = Config.fromfile(str(path))
    if overrides:
        cfg.merge_from_dict(dict(overrides))
    for key in drop:
        *parents, last = key.split('.')
        node = cfg
        for part in parents:
            node = node.get(part) if node is not None else None
        if node is not None and last in node:
            node.pop(last)
    return cfg


def build_model(cfg, device: torch.device, init: bool = True) -> torch.nn.Module:
    """Build ``cfg.model`` (with the config's data preprocessor) in training mode on ``device``."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    model = MODELS.build(model_cfg)
    if init:
        model.init_weights()
    return model.to(device).train()


def build_optimizer(cfg, model: torch.nn.Module, amp: bool):
    """The config's optimizer wrapper: ``AmpOptimWrapper`` with ``amp``, else ``OptimWrapper``."""
    from mmengine.optim import build_optim_wrapper

    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg['type'] = 'AmpOptimWrapper'
    elif optim_cfg.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        optim_cfg['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_cfg.pop(key, None)
    return build_optim_wrapper(model, optim_cfg)


def _find_transform(cfg, type_name: str) -> Optional[dict]:
    loader = cfg.get('train_dataloader') or {}
    pipeline = (loader.get('dataset') or {}).get('pipeline') or []
    for step in pipeline:
        if step.get('type') == type_name:
            return dict(step)
    return None


def input_size(cfg) -> int:
    """Pre-training image side: the backbone's ``img_size`` (224 when it has none)."""
    size = cfg.model.backbone.get('img_size', 224)
    return size if isinstance(size, int) else int(size[0])


class BatchMaker:
    """Training batches as the dataloader gives them: uint8 images and data samples.

    The Swin (SimMIM) models get, per image, a fresh mask from the config's
    ``SimMIMMaskGenerator`` (drawn from a pool of ``pool`` masks per image slot).

    Args:
        cfg: The config.
        batch_size: Images per batch.
        seed: Seed of the images and masks.
        pool: Masks drawn in advance per image slot.
    """

    def __init__(self, cfg, batch_size: int, seed: int = 0, pool: int = 8) -> None:
        import numpy as np
        from mmpretrain.registry import TRANSFORMS

        size = input_size(cfg)
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8,
                                    generator=gen)
        self.batch_size = batch_size
        self.masks = None
        mask_cfg = _find_transform(cfg, 'SimMIMMaskGenerator')
        if mask_cfg is not None:
            np.random.seed(seed)
            generator = TRANSFORMS.build(mask_cfg)
            self.masks = [[torch.from_numpy(np.asarray(generator({})['mask']))
                           for _ in range(batch_size)] for _ in range(pool)]
        self._step = 0

    def __call__(self) -> dict:
        """The next batch: ``dict(inputs=uint8 (B, 3, H, W), data_samples=[DataSample, ...])``."""
        from mmpretrain.structures import DataSample

        samples = [DataSample() for _ in range(self.batch_size)]
        if self.masks is not None:
            for sample, mask in zip(samples, self.masks[self._step % len(self.masks)]):
                sample.set_mask(mask)
        self._step += 1
        return dict(inputs=self.images, data_samples=samples)


# ----------------------------------------------------------------------------------------------
# Visibility (tokens / cells per block or stage)
# ----------------------------------------------------------------------------------------------
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
        gen = _find_transform(cfg, 'SimMIMMaskGenerator')
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


# ----------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------
def _op_category(name: str) -> str:
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


# ----------------------------------------------------------------------------------------------
# Timing and memory
# ----------------------------------------------------------------------------------------------
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None


_LIBC = _libc()


def _proc_status_kib(key: str) -> Optional[int]:
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(key + ':'):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class CpuMemoryProbe:
    """Peak resident-set growth of the process during a callable (see the module docstring)."""

    def __init__(self) -> None:
        self.method = ('VmHWM - VmRSS after malloc_trim and clear_refs'
                       if _reset_hwm() and _proc_status_kib('VmHWM') is not None
                       else 'ru_maxrss delta (lower bound)')

    def measure(self, fn: Callable[[], Any]) -> int:
        """Run ``fn`` and return the peak RSS growth in bytes."""
        gc.collect()
        if _LIBC is not None and hasattr(_LIBC, 'malloc_trim'):
            _LIBC.malloc_trim(0)
        if self.method.startswith('VmHWM') and _reset_hwm():
            before = _proc_status_kib('VmRSS')
            fn()
            return max(0, (_proc_status_kib('VmHWM') - before) * 1024)
        before = _proc_status_kib('VmRSS') or 0
        fn()
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


class MatmulProbe:
    """Dense square matmul throughput: fp32 on CPU, the AMP dtype on CUDA.

    Args:
        device: Where to run.
        dtype: Operand dtype.
        n: Matrix side (2048 on CPU, 8192 on CUDA by default).
        reps: Matmuls per measurement; the best is kept.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, n: Optional[int] = None,
                 reps: int = 3) -> None:
        self.device, self.dtype, self.reps = device, dtype, reps
        self.n = n or (8192 if device.type == 'cuda' else 2048)
        self.a = torch.randn(self.n, self.n, device=device).to(dtype)
        self.b = torch.randn(self.n, self.n, device=device).to(dtype)
        self.label = f'{self.n}x{self.n} {str(dtype).replace("torch.", "")} mm'

    def measure(self) -> float:
        """Best FLOP/s of ``reps`` matmuls."""
        flops = 2 * self.n**3
        best = 0.
        for _ in range(self.reps):
            seconds = _timed(lambda: torch.mm(self.a, self.b), self.device)
            best = max(best, flops / seconds)
        return best


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of ``fn()``: CUDA events with synchronisation on GPU, perf_counter on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass
class Entry:
    """A built model with its optimizer, batches and measurements."""

    spec: ModelSpec
    cfg: Any
    model: torch.nn.Module
    optim_wrapper: Any
    batches: BatchMaker
    vis: Visibility
    params: int
    flops: Optional[FlopCount] = None
    times: List[float] = field(default_factory=list)
    memory: List[int] = field(default_factory=list)
    memory_total: List[int] = field(default_factory=list)

    def step(self) -> None:
        """One training step, as mmengine's train loop runs it."""
        self.model.train_step(self.batches(), self.optim_wrapper)


def _round_order(items: Sequence, r: int) -> List:
    k = r % len(items)
    return list(items[k:]) + list(items[:k])


# ----------------------------------------------------------------------------------------------
# Profile
# ----------------------------------------------------------------------------------------------
def profile_steps(entry: Entry, device: torch.device, steps: int = 2) -> Dict[str, Any]:
    """Self time per op category over ``steps`` training steps (torch.profiler).

    The optimizer's ``step`` and ``zero_grad`` (and everything under them) form one category;
    every other op is classified by :func:`_op_category` on its self time (CPU time on CPU,
    device time on CUDA). FLOP/s per category use the FLOPs per op of :func:`count_step_flops`.

    Returns:
        dict: ``wall_s`` (per step, profiled), ``categories`` {name: seconds per step},
        ``gflops_per_s`` {category: achieved rate}.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    entry.step()
    with profile(activities=activities) as prof:
        wall = sum(_timed(entry.step, device) for _ in range(steps)) / steps
    attr = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    in_optimizer: Dict[int, bool] = {}

    def under_optimizer(event) -> bool:
        chain, node = [], event
        while node is not None and id(node) not in in_optimizer:
            chain.append(node)
            if node.name.startswith('Optimizer.'):
                break
            node = node.cpu_parent
        found = (node is not None and (node.name.startswith('Optimizer.')
                                       or in_optimizer.get(id(node), False)))
        for n in chain:
            in_optimizer[id(n)] = found
        return found

    totals: Dict[str, float] = defaultdict(float)
    for event in prof.events():
        t = getattr(event, attr, 0) or 0
        if t <= 0:
            continue
        cat = ('optimizer (AdamW step, zero_grad)' if under_optimizer(event)
               else _op_category(event.name))
        totals[cat] += t / 1e6 / steps
    flops: Dict[str, float] = defaultdict(float)
    for op, n in (entry.flops.by_op if entry.flops else {}).items():
        flops[_op_category(op)] += n
    rates = {cat: flops[cat] / totals[cat] / 1e9 for cat in flops if totals.get(cat)}
    return dict(wall_s=wall, categories=dict(sorted(totals.items(), key=lambda kv: -kv[1])),
                gflops_per_s=rates)


# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------
def _environment(device: torch.device, amp: bool, matmul_label: str) -> Dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()
    return dict(device=str(device), device_name=name, torch=torch.__version__,
                threads=torch.get_num_threads(), amp=amp, matmul_probe=matmul_label)


def _fmt(x: Optional[float], spec: str) -> str:
    return '-' if x is None else format(x, spec)


def run_benchmark(models: Sequence[str] = MODEL_NAMES,
                  archs: Sequence[str] = ('b', ),
                  batch_size: int = 2,
                  rounds: int = 5,
                  warmup: int = 1,
                  device: str = 'auto',
                  amp: bool = False,
                  threads: Optional[int] = None,
                  profile: Optional[Sequence[str]] = None,
                  profile_steps_per_model: int = 2,
                  json_path: Optional[str] = None) -> Dict[str, Any]:
    """Benchmark full pre-training steps of the selected models, interleaved per family.

    Prints the device, torch version, thread count, a markdown table and (with ``profile``) a
    per-model breakdown of step time by op category.

    Args:
        models: Names among :data:`MODEL_NAMES`.
        archs: ViT archs (``'s'``, ``'b'``, ``'l'``) for the ViT models.
        batch_size: Images per step.
        rounds: Timed rounds (one step of every model of a family per round).
        warmup: Untimed steps per model before measuring (at least 1: it allocates the optimizer
            states).
        device: ``'auto'`` (CUDA when available), ``'cpu'`` or ``'cuda'``.
        amp: Mixed precision as the configs' ``AmpOptimWrapper`` (CUDA only).
        threads: ``torch.set_num_threads`` (default: leave torch's choice).
        profile: Model names to profile (torch.profiler) after timing, printing where their
            step time goes; an empty list profiles every selected model, None none.
        profile_steps_per_model: Steps per profile.
        json_path: Write the results there as JSON.

    Returns:
        dict: ``environment``, ``models`` (one dict per model) and, per family, the matmul peak.

    Raises:
        ValueError: On an invalid argument (unknown model, CUDA unavailable, ``amp`` on CPU, ...).
    """
    if batch_size < 1 or rounds < 1 or warmup < 0:
        raise ValueError('batch_size and rounds must be >= 1 and warmup >= 0')
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available')
    if device not in ('cpu', 'cuda'):
        raise ValueError(f'device={device!r}: choose auto, cpu or cuda')
    if amp and device != 'cuda':
        raise ValueError('--amp needs CUDA (the configs\' AmpOptimWrapper is a CUDA autocast)')
    dev = torch.device(device)
    _quiet_mmengine()
    if threads:
        torch.set_num_threads(threads)
    specs = model_specs(models, archs)
    if not specs:
        raise ValueError('no model selected')

    amp_dtype = torch.float16
    env = _environment(dev, amp, '')
    mem_probe = CpuMemoryProbe() if dev.type == 'cpu' else None
    env['memory_method'] = (mem_probe.method if mem_probe else
                            'torch.cuda.max_memory_allocated - memory_allocated before the step')
    print(f"device: {env['device']} ({env['device_name']}), torch {env['torch']}, "
          f"{env['threads']} threads, AMP {'on' if amp else 'off'}, batch {batch_size}, "
          f'{rounds} rounds, {warmup} warm-up step(s)')
    print(f"memory: {env['memory_method']}")

    results, peaks = [], {}
    for group, group_specs in groupby(specs, key=lambda s: s.group):
        group_specs = list(group_specs)
        print(f"{group}: building {', '.join(s.name for s in group_specs)}, then "
              f'{max(1, warmup)} warm-up, 2 memory and {rounds} timed step(s) each, interleaved',
              flush=True)
        entries = []
        for spec in group_specs:
            cfg = load_config(spec.config, spec.overrides, spec.drop)
            if amp:
                amp_dtype = getattr(torch, str(cfg.optim_wrapper.get('dtype') or 'float16'))
            torch.manual_seed(0)
            model = build_model(cfg, dev)
            optim_wrapper = build_optimizer(cfg, model, amp)
            entry = Entry(spec, cfg, model, optim_wrapper, BatchMaker(cfg, batch_size, seed=0),
                          visibility(model, cfg), sum(p.numel() for p in model.parameters()))
            entry.flops = count_step_flops(model, optim_wrapper, entry.batches())
            entries.append(entry)
        probe = MatmulProbe(dev, amp_dtype if amp else torch.float32)
        env['matmul_probe'] = probe.label
        for _ in range(max(1, warmup)):
            probe.measure()
            for entry in entries:
                entry.step()
        if dev.type == 'cpu':
            for _ in range(2):
                for entry in entries:
                    entry.memory.append(mem_probe.measure(entry.step))
        peak_rounds: List[float] = []
        for r in range(rounds):
            for item in _round_order(entries + [probe], r):
                if item is probe:
                    peak_rounds.append(probe.measure())
                    continue
                if dev.type == 'cuda':
                    torch.cuda.synchronize(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                    before = torch.cuda.memory_allocated(dev)
                item.times.append(_timed(item.step, dev))
                if dev.type == 'cuda':
                    peak = torch.cuda.max_memory_allocated(dev)
                    item.memory.append(peak - before)
                    item.memory_total.append(peak)
        peak = statistics.median(peak_rounds)
        peaks[group] = dict(median_flops_per_s=peak, rounds=peak_rounds)
        by_name = {e.spec.name: e for e in entries}
        for entry in entries:
            results.append(_summarise(entry, by_name.get(entry.spec.baseline), batch_size, peak))
        if profile is not None:
            for entry in entries:
                if profile and entry.spec.name not in profile:
                    continue
                prof = profile_steps(entry, dev, profile_steps_per_model)
                results_by_label = {r['label']: r for r in results}
                results_by_label[entry.spec.label]['profile'] = prof
        del entries, by_name
        gc.collect()
        if dev.type == 'cuda':
            torch.cuda.empty_cache()

    env['matmul_peak'] = {g: p['median_flops_per_s'] for g, p in peaks.items()}
    _print_table(results, peaks, dev)
    _print_checks(results)
    if profile is not None:
        _print_profiles(results)
    report = dict(environment=env, settings=dict(batch_size=batch_size, rounds=rounds,
                                                   warmup=warmup, archs=list(archs),
                                                   models=list(models)),
                  matmul_peak=peaks, models=results)
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f'wrote {path}')
    return report


def _summarise(entry: Entry, base: Optional[Entry], batch_size: int,
               peak: float) -> Dict[str, Any]:
    step = statistics.median(entry.times)
    flops_step = entry.flops.forward_backward
    row = dict(
        name=entry.spec.name, group=entry.spec.group, label=entry.spec.label,
        config=entry.spec.config, overrides=entry.spec.overrides, drop=list(entry.spec.drop),
        schedule=entry.spec.schedule, baseline=entry.spec.baseline, params=entry.params,
        visibility=dict(unit=entry.vis.unit, layer=entry.vis.layer, total=entry.vis.total,
                        per_layer=entry.vis.per_layer, runs=entry.vis.runs()),
        step_times_s=entry.times, step_s=step, images_per_s=batch_size / step,
        forward_gflops_per_image=entry.flops.forward / batch_size / 1e9,
        step_gflops_per_image=flops_step / batch_size / 1e9,
        flops_by_op=entry.flops.by_op,
        achieved_gflops_per_s=flops_step / step / 1e9,
        fraction_of_matmul_peak=flops_step / step / peak,
        peak_memory_growth_bytes=max(entry.memory) if entry.memory else None,
        peak_memory_total_bytes=max(entry.memory_total) if entry.memory_total else None,
        memory_samples_bytes=entry.memory)
    if base is not None:
        paired = [t / b for t, b in zip(entry.times, base.times)]
        row['time_ratio'] = statistics.median(paired)
        row['flop_ratio'] = flops_step / base.flops.forward_backward
        row['time_ratio_target_met'] = row['time_ratio'] <= row['flop_ratio'] + 0.01
    else:
        row['time_ratio'] = row['flop_ratio'] = row['time_ratio_target_met'] = None
    return row


def _print_table(results: List[Dict[str, Any]], peaks: Dict[str, Dict[str, Any]],
                 dev: torch.device) -> None:
    mem_head = 'peak mem growth MiB' if dev.type == 'cpu' else 'peak mem MiB (growth)'
    print()
    print(f'| model | schedule | visible per block/stage | GFLOPs/img fwd+bwd | step s '
          f'| img/s | {mem_head} | GFLOP/s | % matmul peak | time / base | FLOPs / base |')
    print('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in results:
        mib = r['peak_memory_growth_bytes']
        mem = _fmt(None if mib is None else mib / 2**20, '.0f')
        if r['peak_memory_total_bytes'] is not None:
            mem = f"{r['peak_memory_total_bytes'] / 2**20:.0f} ({mem})"
        print(f"| {r['label']} | {r['schedule']} | {r['visibility']['runs']} "
              f"| {r['step_gflops_per_image']:.2f} | {r['step_s']:.3f} "
              f"| {r['images_per_s']:.2f} | {mem} | {r['achieved_gflops_per_s']:.1f} "
              f"| {100 * r['fraction_of_matmul_peak']:.1f} | {_fmt(r['time_ratio'], '.3f')} "
              f"| {_fmt(r['flop_ratio'], '.3f')} |")
    print()
    for group, p in peaks.items():
        print(f"matmul peak ({group} rounds): {p['median_flops_per_s'] / 1e9:.1f} GFLOP/s "
              f"(median of {len(p['rounds'])} rounds)")


def _print_checks(results: List[Dict[str, Any]]) -> None:
    """The targets: time ratio <= FLOP ratio + 0.01, two-shot memory <= one-shot, 85% of peak."""
    print()
    for r in results:
        if r['time_ratio'] is not None and r['name'] != r['baseline']:
            ok = 'holds' if r['time_ratio_target_met'] else 'MISSED'
            print(f"{r['label']}: time/base {r['time_ratio']:.3f} <= FLOPs/base "
                  f"{r['flop_ratio']:.3f} + 0.01: {ok}")
    by_label = {r['label']: r for r in results}
    for r in results:
        if '2shot' not in r['name'] or r['peak_memory_growth_bytes'] is None:
            continue
        one = by_label.get(r['label'].replace('2shot', '1shot'))
        if one is None or one['peak_memory_growth_bytes'] is None:
            continue
        a, b = r['peak_memory_growth_bytes'] / 2**20, one['peak_memory_growth_bytes'] / 2**20
        print(f"{r['label']}: peak memory {a:.0f} MiB <= one-shot {b:.0f} MiB: "
              f"{'holds' if a <= b else 'MISSED'}")
    for r in results:
        if r['group'].startswith('ViT-B'):
            frac = r['fraction_of_matmul_peak']
            print(f"{r['label']}: {100 * frac:.1f}% of the matmul peak >= 85%: "
                  f"{'holds' if frac >= 0.85 else 'MISSED'}")


def _quiet_mmengine() -> None:
    """Keep mmengine's per-parameter init and optimizer logs off the report (warnings stay)."""
    from mmengine.logging import MMLogger

    MMLogger.get_instance('cmae_mm_benchmark', log_level='WARNING')


def _print_profiles(results: List[Dict[str, Any]]) -> None:
    for r in results:
        prof = r.get('profile')
        if not prof:
            continue
        total = sum(prof['categories'].values())
        print(f"\nprofile {r['label']}: {prof['wall_s']:.3f} s/step under the profiler, "
              f'{total:.3f} s of op self time')
        print('| category | ms/step | % | GFLOP/s |')
        print('|---|---:|---:|---:|')
        for cat, seconds in prof['categories'].items():
            rate = prof['gflops_per_s'].get(cat)
            print(f'| {cat} | {1e3 * seconds:.1f} | {100 * seconds / total:.1f} '
                  f'| {_fmt(rate, ".1f")} |')


# ----------------------------------------------------------------------------------------------
# get_flops
# ----------------------------------------------------------------------------------------------
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

    _quiet_mmengine()
    cfg = load_config(config, cfg_options)
    torch.manual_seed(0)
    model = build_model(cfg, torch.device('cpu'), init=False)
    vis = visibility(model, cfg)
    batch = BatchMaker(cfg, batch_size)()
    processed = model.data_preprocessor(batch, True)
    inputs = processed['inputs']
    with_mask = _find_transform(cfg, 'SimMIMMaskGenerator') is not None and hasattr(
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
