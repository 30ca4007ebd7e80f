"""cmae-mm: Conditional MAE (multi-shot masked image modelling) on the OpenMMLab stack.

Importing the package registers every component of the suite (models, datasets and transforms,
the optimizer constructor, hooks, the robustness test loop) into the OpenMMLab registries, so
configs only need ``custom_imports = dict(imports=['cmae_mm'])`` and every registered name a tool
or README command uses resolves in a fresh process. It changes no global state of torch.
"""
from . import datasets, engine, evaluation, models  # noqa: F401  (registration side effects)
from .masking import ShotSchedule

__version__ = '0.1.0'
__all__ = ['ShotSchedule', '__version__']
