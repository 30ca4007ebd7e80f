"""The ImageNet-100 pre-training study of the paper (Sec. 3.1, App. A.1), member by member.

Every member is one pre-training run with a readable, unique name, e.g.
``cmae_vit-small-p16_L0-10_r0.75-0.1_in100`` for ``L(0,10; 0.75,0.1)`` on ViT-S/16. The configs in
``configs/selfsup/in100/`` are generated from :func:`in100_study` by
``tools/study/make_in100_configs.py`` (a test keeps them in sync).
"""
from dataclasses import dataclass
from itertools import product
from typing import List, Optional, Tuple

ARCHS = ('vit-small', 'vit-base')
# Families, with the paper's figure/table they reproduce.
FAMILIES = {
    'one-shot': 'one-shot grid, mask position j x ratio (Fig. 2, Tab. 1)',
    'two-shot': 'two-shot grid L(0,j; η1,η2) (Fig. 3, Fig. 14)',
    'control': 'one-shot control keeping as many tokens as the best two-shot runs (Sec. 3.1.2, fn. 6)',
    'three-shot': 'three-shot strategies (Tab. 7)',
    'loss-weights': 'per-shot loss weights (Tab. 3)',
}


@dataclass(frozen=True)
class StudyMember:
    """One pre-training run of the study.

    Args:
        family (str): One of :data:`FAMILIES`.
        arch (str): ``'vit-small'`` or ``'vit-base'`` (16x16 patches).
        layers (Tuple[int, ...]): ``ℓ_s``.
        ratios (Tuple[float, ...]): ``η_s``.
        shot_weights (Tuple[float, ...], optional): Per-shot loss weights, None for the union loss.
    """

    family: str
    arch: str
    layers: Tuple[int, ...]
    ratios: Tuple[float, ...]
    shot_weights: Optional[Tuple[float, ...]] = None

    @property
    def name(self) -> str:
        """Readable unique name, also the config file stem."""
        name = (f"cmae_{self.arch}-p16_L{'-'.join(map(str, self.layers))}"
                f"_r{'-'.join(f'{r:g}' for r in self.ratios)}")
        if self.shot_weights is not None:
            name += f"_w{'-'.join(f'{w:g}' for w in self.shot_weights)}"
        return name + '_in100'

    @property
    def notation(self) -> str:
        """The paper's notation, e.g. ``L(0,10; 0.75,0.1)``."""
        text = (f"L({','.join(map(str, self.layers))}; "
                f"{','.join(f'{r:g}' for r in self.ratios)})")
        if self.shot_weights is not None:
            text += f" w=({','.join(f'{w:g}' for w in self.shot_weights)})"
        return text


# Tab. 7: (layers, ratios) of every three-shot strategy, in the table's order.
THREE_SHOT = (
    ((0, 4, 8), (0.5, 0.5, 0.5)),
    ((0, 5, 10), (0.5, 0.5, 0.5)),
    ((0, 5, 10), (0.75, 0.25, 0.25)),
    ((0, 5, 10), (0.75, 0.25, 0.1)),
    ((0, 5, 10), (0.75, 0.1, 0.1)),
    ((0, 6, 11), (0.75, 0.25, 0.1)),
    ((0, 6, 11), (0.75, 0.1, 0.1)),
    ((0, 3, 6), (0.5, 0.5, 0.5)),
    ((0, 3, 6), (0.75, 0.25, 0.1)),
    ((0, 3, 6), (0.75, 0.1, 0.1)),
    ((0, 2, 4), (0.75, 0.1, 0.1)),
    ((0, 1, 2), (0.75, 0.1, 0.1)),
    ((0, 3, 10), (0.5, 0.5, 0.5)),
    ((0, 3, 10), (0.75, 0.25, 0.1)),
    ((0, 3, 10), (0.75, 0.1, 0.1)),
    ((0, 2, 10), (0.75, 0.1, 0.1)),
    ((0, 1, 10), (0.75, 0.1, 0.1)),
    ((0, 9, 10), (0.75, 0.1, 0.1)),
    ((0, 8, 10), (0.75, 0.1, 0.1)),
    ((0, 10, 11), (0.75, 0.1, 0.1)),
)
# Tab. 3: L(0,10; η1,η2) with weights (0.5, 0.5) and with the mask ratios as weights.
LOSS_WEIGHTS = (
    ((0.75, 0.15), (0.5, 0.5)),
    ((0.75, 0.15), (0.75, 0.15)),
    ((0.9, 0.1), (0.5, 0.5)),
    ((0.9, 0.1), (0.9, 0.1)),
)


def in100_study() -> List[StudyMember]:
    """All members of the ImageNet-100 study, for ViT-S/16 and ViT-B/16.

    Returns:
        List[StudyMember]: 84 members per architecture: 8 one-shot, 50 two-shot, 2 controls,
        20 three-shot and 4 loss-weight runs.
    """
    members = []
    for arch in ARCHS:
        for j, eta in product((0, 3, 6, 9), (0.75, 0.9)):
            members.append(StudyMember('one-shot', arch, (j, ), (eta, )))
        for eta1, j, eta2 in product((0.75, 0.9), (3, 6, 9, 10, 11), (0.5, 0.25, 0.15, 0.1, 0.05)):
            members.append(StudyMember('two-shot', arch, (0, j), (eta1, eta2)))
        for eta in (0.775, 0.905):
            members.append(StudyMember('control', arch, (0, ), (eta, )))
        for layers, ratios in THREE_SHOT:
            members.append(StudyMember('three-shot', arch, layers, ratios))
        for ratios, weights in LOSS_WEIGHTS:
            members.append(StudyMember('loss-weights', arch, (0, 10), ratios, weights))
    return members
