"""cmae-mm: Conditional MAE (multi-shot masked image modelling) on the OpenMMLab stack.

``import cmae_mm`` is light: it registers nothing and imports neither torch nor the OpenMMLab
model packages, so the tools that only orchestrate or read results (the study runner, the
report, statistics and Model Zoo tools) start in a fraction of a second. Importing
:mod:`cmae_mm.components` registers every component of the suite; the configs list it in
``custom_imports``. ``cmae_mm.ShotSchedule`` (the shot schedule of :mod:`cmae_mm.masking`) is
loaded on first access.
"""
from typing import Any

__version__ = '0.1.0'
__all__ = ['ShotSchedule', '__version__']


def __getattr__(name: str) -> Any:
    """``ShotSchedule`` on first access (it imports torch)."""
    if name == 'ShotSchedule':
        from .masking import ShotSchedule
        return ShotSchedule
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
