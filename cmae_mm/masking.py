"""The shot schedule of Conditional MAE: validation and per-shot random masking, in one place.

Notation (paper): ``L(i, j, k; η1, η2, η3)``. Shot ``s`` removes a random fraction ``η_s`` of the
patch tokens that are still visible at the input of encoder block ``ℓ_s`` (block 0 = the patch
embeddings, i.e. MAE's masking). A shot keeps ``int(L * (1 - η_s))`` of the ``L`` tokens visible at
that point — MAE's rounding rule, applied shot by shot. ViT-B/16 at 224 (196 patches):

* ``L(0; 0.75)``            -> blocks 0-11 see 49 patch tokens (MAE).
* ``L(0, 10; 0.75, 0.1)``   -> blocks 0-9 see 49, blocks 10-11 see 44.
* ``L(0, 10, 11; 0.75, 0.1, 0.1)`` -> block 11 sees 39.

The same schedule object drives the ViT backbone (blocks) and, later, hierarchical backbones
(stages): "layer" below means whatever unit the backbone enumerates.
"""
import math
from dataclasses import dataclass
from numbers import Real
from typing import List, Optional, Sequence, Tuple

import torch

__all__ = ['FIRST_SHOT_ROUNDINGS', 'LATER_SHOT_ROUNDINGS', 'ShotSchedule', 'random_keep']

#: Rounding rules of shot 1 (see :class:`ShotSchedule`).
FIRST_SHOT_ROUNDINGS = ('keep_floor', 'mask_ceil')
#: Rounding rules of the later shots (see :class:`ShotSchedule`).
LATER_SHOT_ROUNDINGS = ('keep_floor', 'mask_round')


@dataclass(frozen=True)
class ShotSchedule:
    """A validated multi-shot masking schedule ``L(ℓ_1, ..., ℓ_S; η_1, ..., η_S)``.

    Args:
        layers (Sequence[int]): ``ℓ_s``, strictly increasing indices of the encoder layer whose
            *input* shot ``s`` masks, each in ``[0, num_layers - 1]``.
        ratios (Sequence[float]): ``η_s``, the fraction of the still-visible tokens that shot ``s``
            removes, each in ``[0, 1)``.
        num_layers (int): Number of encoder layers (blocks or stages) the schedule applies to.
        num_tokens (int, optional): Number of patch tokens before the first shot. When given, the
            schedule is also checked to keep at least one token and to remove at least one.
        first_shot_rounding (str): How shot 1 rounds, following its base method so that the
            one-shot model stays bit-exact to it: ``'keep_floor'`` (MAE, FCMAE: keep
            ``int(N * (1 - η_1))``) or ``'mask_ceil'`` (SimMIM's mask generator: mask
            ``ceil(N * η_1)``). Defaults to ``'keep_floor'``.
        later_shot_rounding (str): How shots 2, 3, ... round on the ``L`` cells still visible:
            ``'keep_floor'`` keeps ``int(L * (1 - η_s))`` (MAE's rule, the ViT family's; 14
            visible SimMIM cells x 0.9 -> keep 12, mask 2: an effective η of 0.143) or
            ``'mask_round'`` masks ``round(L * η_s)`` (the paper's N4 = η2 N1 = 1.4 read as
            1 cell). Defaults to ``'keep_floor'``.

    Raises:
        ValueError: If an argument is malformed; the message names the argument, the value and
            what is allowed.
    """

    layers: Tuple[int, ...]
    ratios: Tuple[float, ...]
    num_layers: int
    num_tokens: Optional[int] = None
    first_shot_rounding: str = 'keep_floor'
    later_shot_rounding: str = 'keep_floor'

    def __init__(self,
                 layers: Sequence[int],
                 ratios: Sequence[float],
                 num_layers: int,
                 num_tokens: Optional[int] = None,
                 first_shot_rounding: str = 'keep_floor',
                 later_shot_rounding: str = 'keep_floor') -> None:
        layers, ratios = _as_tuple('mask_layers', layers), _as_tuple('mask_ratios', ratios)
        if len(layers) == 0:
            raise ValueError('mask_layers=[] is empty: give at least one shot, e.g. '
                             'mask_layers=[0], mask_ratios=[0.75] (MAE).')
        if len(layers) != len(ratios):
            raise ValueError(
                f'mask_layers={list(layers)} and mask_ratios={list(ratios)} have different '
                f'lengths ({len(layers)} vs {len(ratios)}): give one ratio per shot.')
        for layer in layers:
            if isinstance(layer, bool) or not isinstance(layer, int) \
                    or not 0 <= layer < num_layers:
                raise ValueError(
                    f'mask_layers={list(layers)} contains {layer!r}: each shot layer must be an '
                    f'int in [0, {num_layers - 1}] (the encoder has {num_layers} layers).')
        if any(b <= a for a, b in zip(layers, layers[1:])):
            raise ValueError(
                f'mask_layers={list(layers)} must be strictly increasing (one shot per layer, '
                f'in the order they are applied), e.g. [0, 10].')
        for ratio in ratios:
            if isinstance(ratio, bool) or not isinstance(ratio, Real) or not 0 <= ratio < 1:
                raise ValueError(
                    f'mask_ratios={list(ratios)} contains {ratio!r}: each ratio must be a number '
                    f'in [0, 1).')
        object.__setattr__(self, 'layers', tuple(int(x) for x in layers))
        object.__setattr__(self, 'ratios', tuple(float(x) for x in ratios))
        object.__setattr__(self, 'num_layers', int(num_layers))
        object.__setattr__(self, 'num_tokens', num_tokens)
        if first_shot_rounding not in FIRST_SHOT_ROUNDINGS:
            raise ValueError(f'first_shot_rounding={first_shot_rounding!r}: allowed values are '
                             f'{FIRST_SHOT_ROUNDINGS}.')
        object.__setattr__(self, 'first_shot_rounding', first_shot_rounding)
        if later_shot_rounding not in LATER_SHOT_ROUNDINGS:
            raise ValueError(f'later_shot_rounding={later_shot_rounding!r}: allowed values are '
                             f'{LATER_SHOT_ROUNDINGS}.')
        object.__setattr__(self, 'later_shot_rounding', later_shot_rounding)
        if num_tokens is not None:
            kept = self.kept_counts(num_tokens)
            if kept[-1] < 1:
                raise ValueError(
                    f'{self} leaves no visible token of {num_tokens} (visible after each shot: '
                    f'{kept}): lower mask_ratios={list(self.ratios)}.')
            if kept[-1] == num_tokens:
                raise ValueError(
                    f'{self} removes none of the {num_tokens} patch tokens, so there is nothing '
                    f'to reconstruct: raise mask_ratios={list(self.ratios)}.')

    @property
    def num_shots(self) -> int:
        """Number of shots ``S``."""
        return len(self.layers)

    def kept_counts(self, num_tokens: int) -> List[int]:
        """Visible patch tokens after each shot.

        Args:
            num_tokens (int): Patch tokens before the first shot (``N``).

        Returns:
            List[int]: ``S`` counts; entry ``s`` is the number of tokens entering layer ``ℓ_s``
            and every later layer up to the next shot.
        """
        counts, visible = [], num_tokens
        for shot in range(self.num_shots):
            visible = self.keep_count(shot, visible)
            counts.append(visible)
        return counts

    def keep_count(self, shot: int, visible: int) -> int:
        """Tokens shot ``shot`` (0-based) keeps of the ``visible`` ones, by its rounding rule.

        Args:
            shot (int): 0-based shot index.
            visible (int): ``L``, tokens visible before the shot.

        Returns:
            int: Tokens kept.
        """
        ratio = self.ratios[shot]
        if shot == 0 and self.first_shot_rounding == 'mask_ceil':
            return visible - math.ceil(visible * ratio)
        if shot > 0 and self.later_shot_rounding == 'mask_round':
            return visible - int(round(visible * ratio))
        return int(visible * (1 - ratio))

    def tokens_per_layer(self, num_tokens: int) -> List[int]:
        """Visible patch tokens (without the CLS token) entering each of the ``num_layers`` layers."""
        per_layer, visible = [], num_tokens
        shot_at = dict(zip(self.layers, self.kept_counts(num_tokens)))
        for layer in range(self.num_layers):
            visible = shot_at.get(layer, visible)
            per_layer.append(visible)
        return per_layer

    def shot_at(self, layer: int) -> Optional[int]:
        """The 0-based shot index applied at the input of ``layer``, or None."""
        return self.layers.index(layer) if layer in self.layers else None

    def __str__(self) -> str:
        ratios = ','.join(f'{r:g}' for r in self.ratios)
        return f"L({','.join(map(str, self.layers))}; {ratios})"


def _as_tuple(name: str, value: Sequence) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f'{name}={value!r} must be a list of numbers, e.g. {name}=[0, 10].')
    return tuple(value)


def random_keep(batch_size: int, num_visible: int, ratio: float, device: torch.device,
                len_keep: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw one shot's random masking over the currently visible tokens.

    Consumes the global RNG exactly as MAE's ``random_masking`` does (one ``torch.rand(B, L)``),
    so a shot at block 0 reproduces MAE bit for bit under the same seed.

    Args:
        batch_size (int): ``B``.
        num_visible (int): ``L``, tokens visible before this shot.
        ratio (float): ``η``, fraction of them to remove.
        device (torch.device): Device of the returned indices.
        len_keep (int, optional): Tokens to keep; default MAE's ``int(L * (1 - η))`` (a
            schedule's :meth:`ShotSchedule.keep_count` gives it for other rounding rules).

    Returns:
        Tuple[torch.Tensor, torch.Tensor]: ``keep`` (B, len_keep) and ``remove``
        (B, L - len_keep): positions *within the visible sequence*, in MAE's shuffled order.
    """
    if len_keep is None:
        len_keep = int(num_visible * (1 - ratio))
    noise = torch.rand(batch_size, num_visible, device=device)  # small is keep, large is remove
    ids_shuffle = torch.argsort(noise, dim=1)
    return ids_shuffle[:, :len_keep], ids_shuffle[:, len_keep:]
