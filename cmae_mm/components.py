"""Importing this module registers every component of the suite in the OpenMMLab registries.

The models, datasets and transforms, the optimizer constructor, the hooks, the file backend and
the robustness test loop, each under its own name (nothing of mmengine, mmpretrain, mmdet or
mmseg is replaced). The suite's configs list it in ``custom_imports``::

    custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)

so every registered name resolves in a fresh process; code that builds a component without a
config imports it the same way (``import cmae_mm.components``). ``import cmae_mm`` alone loads
nothing heavy (as ``import mmpretrain`` registers nothing): the study runner, the report and
statistics tools and the data converters start without torch's model stack.
"""
from . import datasets, engine, evaluation, models  # noqa: F401  (registration side effects)
