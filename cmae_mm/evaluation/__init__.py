"""Evaluation helpers: robustness perturbations and the robustness test loop (paper Tab. 9).

Importing this package registers :class:`PatchOcclusion` and :class:`PatchShuffle` into mmpretrain's
``TRANSFORMS`` and :class:`RobustnessTestLoop` into mmengine's ``LOOPS``.
"""
from .robustness import (IMAGENET_MEAN_RGB, PERTURBATIONS, PatchOcclusion, PatchShuffle,
                         add_perturbation, perturb_dataloader, perturbation_kinds)
from .robustness_loop import RobustnessTestLoop

__all__ = ['IMAGENET_MEAN_RGB', 'PERTURBATIONS', 'PatchOcclusion', 'PatchShuffle',
           'RobustnessTestLoop', 'add_perturbation', 'perturb_dataloader', 'perturbation_kinds']
