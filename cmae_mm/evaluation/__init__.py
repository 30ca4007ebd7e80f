"""Evaluation: the robustness test loop (paper Tab. 9) and the config helpers it uses.

Importing :mod:`cmae_mm` imports this package, which registers :class:`RobustnessTestLoop` into
mmengine's ``LOOPS``; the perturbation transforms live in :mod:`cmae_mm.datasets.transforms`.
"""
from .perturbation import PERTURBATIONS, add_perturbation, perturb_dataloader, perturbation_kinds
from .robustness_loop import RobustnessTestLoop

__all__ = ['PERTURBATIONS', 'RobustnessTestLoop', 'add_perturbation', 'perturb_dataloader',
           'perturbation_kinds']
