"""Helpers for ``torch.compile``: one graph for the training forward of every family, and the
faster attention path inside that graph.

Nothing here changes what a model computes in eager mode: the helpers remove host
synchronisations and numpy scalars that make dynamo split the graph, and choose the attention
kernel only while dynamo traces.
"""
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.utils import MultiheadAttention

__all__ = ['FEW_TOKENS', 'few_token_attention', 'masked_error_or_zero', 'matmul_attention',
           'python_float_drop_probs', 'use_few_token_attention']

#: Up to this many keys, :func:`few_token_attention` computes attention as three ops inside a
#: compiled graph. Measured on 2 CPU cores (docs/results/benchmark/attention.txt): matmul / SDPA
#: forward+backward time, compiled, is below 1 at 13 and 50 tokens and above 1 at 197.
FEW_TOKENS = 64


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


def matmul_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     scale: Optional[float] = None) -> torch.Tensor:
    """Attention as three ops: ``softmax(q k^T * scale) v`` (no mask, no dropout).

    Args:
        query (torch.Tensor): ``(B, heads, N, head_dim)``.
        key (torch.Tensor): ``(B, heads, M, head_dim)``.
        value (torch.Tensor): ``(B, heads, M, head_dim)``.
        scale (float, optional): Logit scale; ``head_dim ** -0.5`` by default, as SDPA's.

    Returns:
        torch.Tensor: ``(B, heads, N, head_dim)``, ``F.scaled_dot_product_attention(query, key,
        value)`` up to float rounding (within 1e-6 for unit-variance inputs).
    """
    scale = query.shape[-1]**-0.5 if scale is None else scale
    weights = torch.softmax((query * scale) @ key.transpose(-2, -1), dim=-1)
    return weights @ value


def few_token_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attn_mask: Optional[torch.Tensor] = None, dropout_p: float = 0.,
                        is_causal: bool = False, scale: Optional[float] = None) -> torch.Tensor:
    """``F.scaled_dot_product_attention``, or :func:`matmul_attention` over few tokens when compiled.

    In eager mode this is always torch's SDPA, so a model's eager forward is bit for bit that of
    the stock mmpretrain module. While dynamo traces (``torch.compiler.is_compiling()``), an
    attention without mask or dropout over at most :data:`FEW_TOKENS` keys is written as three ops,
    which inductor fuses (scale, softmax) with the matmuls; the token count is static in the
    graph, so the choice costs nothing at run time.

    Args: as ``F.scaled_dot_product_attention`` (tensors ``(B, heads, N, head_dim)``).

    Returns:
        torch.Tensor: ``(B, heads, N, head_dim)``.
    """
    if (torch.compiler.is_compiling() and attn_mask is None and not is_causal
            and dropout_p == 0. and key.shape[-2] <= FEW_TOKENS):
        return matmul_attention(query, key, value, scale)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask,
                                          dropout_p=dropout_p, is_causal=is_causal, scale=scale)


def use_few_token_attention(module: nn.Module) -> int:
    """Give every mmpretrain ``MultiheadAttention`` in ``module`` :func:`few_token_attention`.

    Only modules that use torch's SDPA are changed (mmpretrain gives a module with ``qk_scale``
    its own Python implementation, which is left alone).

    Args:
        module (nn.Module): A model or backbone (changed in place).

    Returns:
        int: The number of attention modules changed.
    """
    changed = 0
    for m in module.modules():
        if (isinstance(m, MultiheadAttention)
                and m.scaled_dot_product_attention is F.scaled_dot_product_attention):
            m.scaled_dot_product_attention = few_token_attention
            changed += 1
    return changed
