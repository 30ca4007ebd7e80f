"""Config helpers that insert the robustness perturbations into a test pipeline (paper Tab. 9).

The perturbations themselves are the registered transforms of
:mod:`cmae_mm.datasets.transforms.robustness`; :class:`~cmae_mm.evaluation.RobustnessTestLoop`
uses :func:`perturb_dataloader` to run a config's test set clean and perturbed.
"""
import copy
from typing import Dict, List, Optional, Union

from mmengine.config import Config, ConfigDict
from mmpretrain.registry import TRANSFORMS

from ..datasets.transforms.robustness import PatchOcclusion, PatchShuffle

PERTURBATIONS = {'occlusion': PatchOcclusion, 'shuffle': PatchShuffle}


def _type_name(step: Union[dict, object]) -> str:
    """Bare type name of a pipeline step: ``'mmpretrain.PackInputs'`` / class / instance -> name."""
    t = step.get('type') if isinstance(step, dict) else type(step)
    name = t if isinstance(t, str) else getattr(t, '__name__', repr(t))
    return name.rsplit('.', 1)[-1]


def _pipeline_of(loader: Optional[dict], name: str = 'test_dataloader') -> List:
    """``loader.dataset.pipeline`` (the list object itself, for in-place insertion)."""
    if not loader:
        raise ValueError(f'The config has no {name} (got {loader!r}); a perturbation is inserted into '
                         f'{name}.dataset.pipeline')
    dataset = loader.get('dataset')
    if not isinstance(dataset, dict) or not isinstance(dataset.get('pipeline'), list):
        keys = sorted(dataset) if isinstance(dataset, dict) else type(dataset).__name__
        raise ValueError(f'a perturbation needs a list at {name}.dataset.pipeline; '
                         f'{name}.dataset has {keys}')
    return dataset['pipeline']


def _preprocessor_fill(cfg: Config) -> Dict:
    """``fill``/``channel_order`` that map occluded pixels to 0 under the config's data preprocessor.

    The preprocessor (``cfg.model.data_preprocessor``, else top-level ``cfg.data_preprocessor`` as
    the Runner merges them) subtracts ``mean`` after an optional channel swap (``to_rgb``,
    ``bgr_to_rgb`` or ``rgb_to_bgr``). With a swap the image is stored reversed relative to ``mean``
    (``channel_order='bgr'``); without one ``mean`` is already in the image's order, so it is used
    as is (``channel_order='rgb'`` = no reversal). A 1-value mean (grayscale, e.g. Fashion-MNIST)
    gives a 1-value ``fill``. Returns ``{}`` if no 1- or 3-value mean is found.
    """
    model = cfg.get('model') or {}
    prep = model.get('data_preprocessor') if isinstance(model, dict) else None
    prep = prep or cfg.get('data_preprocessor') or {}
    mean = prep.get('mean')
    if mean is None or len(mean) not in (1, 3):
        return {}
    if len(mean) == 1:  # grayscale: no channel order
        return dict(fill=(float(mean[0]), ))
    swap = any(prep.get(k, False) for k in ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr'))
    return dict(fill=tuple(float(m) for m in mean), channel_order='bgr' if swap else 'rgb')


def _add_custom_import(cfg: Config, module: str = 'cmae_mm.components') -> None:
    """Record ``module`` in ``cfg.custom_imports`` so a dumped config re-registers the transforms."""
    custom = cfg.get('custom_imports') or ConfigDict(imports=[], allow_failed_imports=False)
    imports = custom.get('imports', [])
    imports = [imports] if isinstance(imports, str) else list(imports)
    if module not in imports:
        imports.append(module)
    custom['imports'] = imports
    cfg['custom_imports'] = custom


def perturb_dataloader(loader: dict, kind: str, seed: int = 0, cfg: Optional[Config] = None,
                       name: str = 'test_dataloader', **kwargs) -> ConfigDict:
    """A copy of a dataloader config whose pipeline perturbs images right before ``PackInputs``.

    Args:
        loader (dict): A dataloader config with ``dataset.pipeline`` containing ``PackInputs``.
            Not modified.
        kind (str): ``'occlusion'`` (:class:`PatchOcclusion`) or ``'shuffle'`` (:class:`PatchShuffle`).
        seed (int): Base seed of the transform. Defaults to 0.
        cfg (Config, optional): The whole config. For occlusion, ``fill`` and ``channel_order``
            default to values derived from its data preprocessor (its ``mean`` and channel swap), so
            that occluded pixels normalise to 0.
        name (str): Name of the dataloader, for error messages.
        **kwargs: Further transform arguments (``ratio``, ``patch_size``, ``fill``, ``channel_order``).

    Returns:
        ConfigDict: The perturbed copy.

    Raises:
        ValueError: On an unknown ``kind``, no ``dataset.pipeline``, no ``PackInputs`` step (listing
            the step types), a pipeline already perturbed, or invalid transform arguments.
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f'Unknown perturbation kind {kind!r}; allowed: {sorted(PERTURBATIONS)}')
    out = ConfigDict(copy.deepcopy(loader)) if loader else loader
    pipeline = _pipeline_of(out, name)
    types = [_type_name(step) for step in pipeline]
    present = [t for t in types if t in {c.__name__ for c in PERTURBATIONS.values()}]
    if present:
        raise ValueError(f'The test pipeline is already perturbed ({present}); steps: {types}')
    if 'PackInputs' not in types:
        raise ValueError(f'The test pipeline has no PackInputs step to insert {kind!r} before; '
                         f'steps: {types}')
    cls = PERTURBATIONS[kind]
    defaults: Dict = _preprocessor_fill(cfg) if kind == 'occlusion' and cfg is not None else {}
    step = ConfigDict(type=cls.__name__, **{**defaults, **kwargs, 'seed': seed})
    _validate(step)
    pipeline.insert(types.index('PackInputs'), step)
    return out


def add_perturbation(cfg: Config, kind: str, seed: int = 0, **kwargs) -> Config:
    """A copy of ``cfg`` whose test pipeline perturbs images (see :func:`perturb_dataloader`).

    Args:
        cfg (Config): A config with ``test_dataloader.dataset.pipeline`` containing ``PackInputs``.
            Not modified.
        kind (str): ``'occlusion'`` or ``'shuffle'``.
        seed (int): Base seed of the transform. Defaults to 0.
        **kwargs: Further transform arguments.

    Returns:
        Config: The perturbed copy; its ``custom_imports`` also lists ``cmae_mm.components``.
    """
    out = copy.deepcopy(cfg)
    out['test_dataloader'] = perturb_dataloader(out.get('test_dataloader'), kind, seed, out, **kwargs)
    _add_custom_import(out)
    return out


def _validate(step: ConfigDict) -> None:
    """Build the step once so bad arguments fail now, not when the test dataloader is built."""
    try:
        TRANSFORMS.build(copy.deepcopy(step))
    except TypeError as e:
        raise ValueError(f'Invalid arguments for {step["type"]}: {e}') from e


def perturbation_kinds() -> List[str]:
    """The allowed ``kind`` values of :func:`add_perturbation` (for argparse ``choices``)."""
    return sorted(PERTURBATIONS)
