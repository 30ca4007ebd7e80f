"""cmae-mm: Conditional MAE (multi-shot masked image modelling) on the OpenMMLab stack.

Importing the package applies the compatibility layer (:mod:`cmae_mm.compat`) and registers every
model and dataset of the suite into the mmpretrain registries, so configs only need
``custom_imports = dict(imports=['cmae_mm'])`` (the suite's own ``tools/`` import it anyway).
"""
from . import compat  # noqa: F401  (applied first: later imports may load checkpoints)
from . import datasets, models, optim  # noqa: F401  (registration side effects)
from .masking import ShotSchedule

__version__ = '0.1.0'
__all__ = ['ShotSchedule', '__version__']
