"""The benchmarked models: configs per family, model specs, building a model, its optimizer wrapper
and its batches.
"""
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch


ROOT = Path(__file__).resolve().parents[3]


#: Pre-training config of each ViT arch (``--archs``), label and arch overrides.
VIT_ARCHS = {
    's': ('ViT-S/16', 'configs/selfsup/in100/cmae_vit-small-p16_L0-10_r0.75-0.1_in100.py'),
    'b': ('ViT-B/16', 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'),
    'l': ('ViT-L/16', 'configs/selfsup/cmae/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py'),
    # the 12-block 64-d ViT of the Fashion-MNIST study (28 px grey, 4x4 patches): where 2-core
    # users spend their time
    't': ('tiny ViT 28px', 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'),
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


#: ``--variants``: a twin of every selected model, measured in the same rounds, whose step-time
#: ratio is taken against the model itself. ``fused`` / ``unfused``: torch's fused AdamW kernel
#: (``optim_wrapper.optimizer.fused``; CPU and CUDA) on / off (the pre-training configs of the
#: three B/L families use the fused one; the tiny CPU configs the unfused one). ``compile``: ``torch.compile`` of
#: ``model.loss`` (:func:`~.compile.compile_loss`); its first step (which compiles) is reported
#: apart from the step time, with the graph breaks of the model's loss.
VARIANTS = {'fused': ({'optim_wrapper.optimizer.fused': True}, 'fused AdamW'),
            'unfused': ({'optim_wrapper.optimizer.fused': False}, 'unfused AdamW'),
            'compile': ({'compile': True}, 'torch.compile')}


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
                archs: Sequence[str] = ('b', ),
                variants: Sequence[str] = ()) -> List[ModelSpec]:
    """The selected models, grouped by family (in the order of :data:`MODEL_NAMES`).

    Args:
        models: Names among :data:`MODEL_NAMES`.
        archs: ViT archs among ``'s'``, ``'b'``, ``'l'`` (each gives one ViT group).
        variants: Names among :data:`VARIANTS`: each adds ``<model>+<variant>`` after every
            model, with the model as its baseline.

    Returns:
        List[ModelSpec]: One spec per selected (model, arch[, variant]).

    Raises:
        ValueError: On an unknown model name, arch or variant.
    """
    bad_variants = [v for v in variants if v not in VARIANTS]
    if bad_variants:
        raise ValueError(f'unknown variant(s) {bad_variants}: choose among {list(VARIANTS)}')
    specs = _base_specs(models, archs)
    if not variants:
        return specs
    out = []
    for spec in specs:
        out.append(spec)
        for variant in variants:
            overrides, what = VARIANTS[variant]
            out.append(ModelSpec(f'{spec.name}+{variant}', spec.group, spec.config,
                                 overrides={**spec.overrides, **overrides}, drop=spec.drop,
                                 baseline=spec.name, schedule=f'{spec.schedule}, {what}'))
    return out


def _base_specs(models: Sequence[str], archs: Sequence[str]) -> List[ModelSpec]:
    """:func:`model_specs` without variants."""
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
    import cmae_mm.components  # noqa: F401  (registers the suite's modules)
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


def find_transform(cfg, type_name: str) -> Optional[dict]:
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
    """Training batches as the dataloader gives them: uint8 images (the backbone's ``patch_cfg``
    input channels, 3 by default) and data samples.

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
        channels = cfg.model.backbone.get('patch_cfg', {}).get('in_channels', 3)
        self.images = torch.randint(0, 256, (batch_size, channels, size, size), dtype=torch.uint8,
                                    generator=gen)
        self.batch_size = batch_size
        self.masks = None
        mask_cfg = find_transform(cfg, 'SimMIMMaskGenerator')
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
