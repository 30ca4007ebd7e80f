"""Evaluation helpers: robustness perturbations for the test pipeline (paper Tab. 9).

Importing this package registers :class:`PatchOcclusion` and :class:`PatchShuffle` into mmpretrain's
``TRANSFORMS``.
"""
from .robustness import (IMAGENET_MEAN_RGB, PERTURBATIONS, PatchOcclusion, PatchShuffle,
                         add_perturbation, perturbation_kinds)

__all__ = ['IMAGENET_MEAN_RGB', 'PERTURBATIONS', 'PatchOcclusion', 'PatchShuffle', 'add_perturbation',
           'perturbation_kinds']
