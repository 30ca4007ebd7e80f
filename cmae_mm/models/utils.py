"""Helpers that keep the training forward of every family one ``torch.compile`` graph.

Nothing here changes what a model computes in eager mode: the helpers only remove host
synchronisations and numpy scalars that make dynamo split the graph.
"""
from typing import Callable

import torch
import torch.nn as nn
from mmcv.cnn.bricks.drop import DropPath

__all__ = ['masked_error_or_zero', 'python_float_drop_probs']


def python_float_drop_probs(module: nn.Module) -> int:
    """Make the drop probability of every ``DropPath`` in ``module`` a Python float.

    mmpretrain's ``VisionTransformer`` spreads its ``drop_path_rate`` over the blocks with
    ``np.linspace``, so each block's ``DropPath.drop_prob`` is a ``numpy.float64``. dynamo cannot
    trace ``DropPath``'s ``drop_prob == 0.`` test on a numpy scalar and breaks the graph at every
    block (one break per block, also with ``drop_path_rate=0``). The value is kept exactly
    (``float(numpy.float64)`` is the same double), so the eager forward, its random draws and its
    result are unchanged.

    Args:
        module (nn.Module): A backbone (changed in place).

    Returns:
        int: The number of ``DropPath`` modules whose ``drop_prob`` was converted.
    """
    converted = 0
    for m in module.modules():
        if isinstance(m, DropPath) and type(m.drop_prob) is not float:
            m.drop_prob = float(m.drop_prob)
            converted += 1
    return converted


def masked_error_or_zero(error: Callable[[torch.Tensor], torch.Tensor], mask: torch.Tensor,
                         fallback: torch.Tensor) -> torch.Tensor:
    """A masked-mean error that is 0 for an empty mask, without a host synchronisation.

    ``error(mask)`` is a masked mean (mmpretrain's ``PixelReconstructionLoss`` with a mask, or a
    head's ``loss`` on a patch mask): 0/0 = NaN when ``mask`` selects nothing (e.g. a later shot
    whose ratio rounds to no removal). Instead of testing ``bool(mask.any())`` on the host, the
    error is taken over ``fallback`` (a mask that is never empty, e.g. the union of all shots)
    when ``mask`` is empty, and multiplied by 0. For a non-empty mask the result is
    ``error(mask) * 1.0``, bit for bit ``error(mask)``, with the same gradients; for an empty one it
    is 0 with zero (finite) gradients.

    Args:
        error (Callable[[torch.Tensor], torch.Tensor]): Maps a mask to a scalar masked-mean error.
        mask (torch.Tensor): The mask (0/1, any dtype ``torch.where`` accepts with ``fallback``).
        fallback (torch.Tensor): A non-empty mask of the same shape and dtype as ``mask``.

    Returns:
        torch.Tensor: The 0-dim error, 0 when ``mask`` is empty.
    """
    nonempty = mask.any()
    value = error(torch.where(nonempty, mask, fallback))
    return value * nonempty.to(value.dtype)
