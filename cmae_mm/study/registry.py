"""Every evaluation a study file can list, by name.

The accuracy evaluations (:mod:`~cmae_mm.study.evaluations`), the paper's claims beyond accuracy
(:mod:`~cmae_mm.study.claims`) and dense transfer (:mod:`~cmae_mm.study.dense`) in one table.
The claims and dense modules build on the accuracy module's helpers, so the table lives here,
above all three, and no module imports one that imports it back.
"""
from typing import Callable, Dict, Tuple

from .claims import CLAIM_EVALUATIONS
from .dense import DENSE_EVALUATIONS
from .evaluations import ACCURACY_CONTROL_EVALUATIONS, ACCURACY_EVALUATIONS

__all__ = ['CONTROL_EVALUATIONS', 'EVALUATIONS']

#: Name -> evaluation ``fn(cfg, checkpoint, seed, **options) -> metrics``.
EVALUATIONS: Dict[str, Callable[..., Dict[str, float]]] = {
    **ACCURACY_EVALUATIONS, **CLAIM_EVALUATIONS, **DENSE_EVALUATIONS}
#: The evaluations whose controls ``study.py controls`` can compute ahead of the runs.
CONTROL_EVALUATIONS: Tuple[str, ...] = ACCURACY_CONTROL_EVALUATIONS + tuple(DENSE_EVALUATIONS)
