"""Downstream encoders of the hierarchical families, loading their pre-training checkpoint strictly."""
import math
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.models import ConvNeXt, SwinTransformer
from mmpretrain.registry import MODELS

from .strict_pretrained import StrictPretrainedMixin

__all__ = ['BIAS_RESIZE_MODES', 'TransferConvNeXt', 'TransferSwin', 'geometric_offsets',
           'resize_bias_table']

#: How :class:`TransferSwin` resizes relative position bias tables to a new window.
BIAS_RESIZE_MODES = ('geometric', 'bicubic')


def geometric_offsets(src_side: int, dst_side: int, tol: float = 1e-6) -> np.ndarray:
    """Positions of a table's ``src_side`` offsets on the new table's offset axis.

    The offsets of a ``(2w-1)``-wide table are ``-(w-1) .. (w-1)``. To reach a wider table, the
    gaps between neighbouring offsets grow geometrically away from 0, with the ratio ``q`` chosen
    by bisection so that the outermost old offset lands on the new outermost one (``dst_side //
    2``); the gap next to 0 stays 1. This is the resize of BEiT's and SimMIM's fine-tuning code.

    Args:
        src_side: ``2 w_src - 1``.
        dst_side: ``2 w_dst - 1``.
        tol: Bisection tolerance of ``q``.

    Returns:
        np.ndarray: (src_side,) increasing positions, symmetric around 0.
    """
    half, target = src_side // 2, dst_side // 2

    def reach(q: float) -> float:  # 1 + q + ... + q^(half - 1)
        return float(half) if abs(q - 1) < 1e-12 else (q**half - 1) / (q - 1)

    low, high = 1.0, 2.0
    while reach(high) < target:
        high *= 2
    while high - low > tol:
        mid = (low + high) / 2
        low, high = (mid, high) if reach(mid) <= target else (low, mid)
    q = (low + high) / 2
    steps = np.cumsum([q**i for i in range(half)])  # 1, 1+q, 1+q+q^2, ...
    return np.concatenate([-steps[::-1], [0.], steps])


def resize_bias_table(table: torch.Tensor, dst_len: int, mode: str = 'geometric') -> torch.Tensor:
    """Resize a relative position bias table to another window size.

    Args:
        table (torch.Tensor): ((2w-1)^2, heads), rows in row-major offset order.
        dst_len (int): ``(2w'-1)^2`` of the new window.
        mode (str): ``'geometric'`` (BEiT/SimMIM: a cubic spline through the old values placed
            at :func:`geometric_offsets`, read at the new integer offsets) or ``'bicubic'``
            (``F.interpolate`` of the table as a ``(2w-1) x (2w-1)`` image).

    Returns:
        torch.Tensor: (dst_len, heads), the dtype of ``table``.
    """
    if mode not in BIAS_RESIZE_MODES:
        raise ValueError(f'bias resize mode {mode!r}; allowed: {", ".join(BIAS_RESIZE_MODES)}')
    (src_len, heads) = table.shape
    src, dst = math.isqrt(src_len), math.isqrt(dst_len)
    if mode == 'bicubic':
        grid = table.T.reshape(1, heads, src, src).float()
        out = F.interpolate(grid, size=(dst, dst), mode='bicubic', align_corners=False)
        return out.reshape(heads, dst_len).T.to(table.dtype).contiguous()
    from scipy.interpolate import RectBivariateSpline

    old = geometric_offsets(src, dst)
    new = np.arange(dst, dtype=np.float64) - dst // 2
    values = table.detach().double().cpu().numpy()
    out = np.stack([
        RectBivariateSpline(old, old, values[:, h].reshape(src, src), kx=3, ky=3, s=0)(new, new)
        for h in range(heads)], axis=-1)  # (dst, dst, heads)
    return torch.from_numpy(out.reshape(dst_len, heads)).to(table.dtype).contiguous()


@MODELS.register_module()
class TransferSwin(StrictPretrainedMixin, SwinTransformer):
    """mmpretrain's ``SwinTransformer`` with a strict ``Pretrained`` load (SimMIM-Swin transfer).

    A (two-shot) SimMIM pre-training checkpoint holds the encoder under ``backbone.*`` in this
    class's key layout, plus the learnable mask tokens of its shots (``mask_token`` of shot 1 and
    ``mask_token_stage<ℓ>`` of later shots): those are the only keys allowed to be unused; no
    encoder key may be missing. Relative position bias tables of another window (window 6 at
    192 px -> window 7 at 224 px) are resized while loading, by default as Microsoft's SimMIM and
    mmpretrain do (geometric-progression offsets + cubic spline, :func:`resize_bias_table`).

    Args:
        bias_resize (str): ``'geometric'`` (default) or ``'bicubic'`` (plain ``F.interpolate``).
        **kwargs: The arguments of ``SwinTransformer``.
    """

    def __init__(self, *args, bias_resize: str = 'geometric', **kwargs) -> None:
        if bias_resize not in BIAS_RESIZE_MODES:
            raise ValueError(f'TransferSwin bias_resize={bias_resize!r}; allowed: '
                             f'{", ".join(BIAS_RESIZE_MODES)}')
        self.bias_resize = bias_resize
        super().__init__(*args, **kwargs)

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """No key may be missing; the pre-training mask tokens are unused."""
        return [], ['mask_token*']

    def resized_on_load(self) -> List[str]:
        """Bias tables and their index buffers (another window), absolute position embeddings."""
        return ['*relative_position_bias_table', '*relative_position_index', 'absolute_pos_embed']

    def _prepare_relative_position_bias_table(self, state_dict: dict, prefix: str, *args,
                                              **kwargs) -> None:
        """Resize checkpoint bias tables to this model's window (load-state-dict pre-hook).

        Replaces ``SwinTransformer``'s hook, whose ``resize_relative_position_bias_table`` calls
        ``scipy.interpolate.interp2d``, removed in SciPy 1.14 (this stack has 1.15): each
        ``(2w-1)^2 x heads`` table is resized with :func:`resize_bias_table` (``bias_resize``),
        and the stale index buffer is dropped (the model's own one is kept).

        Args:
            state_dict: The checkpoint's state dict, modified in place.
            prefix: Key prefix of this module in ``state_dict``.
        """
        own = self.state_dict()
        for key, current in own.items():
            ckpt_key = prefix + key
            if 'relative_position_bias_table' not in key or ckpt_key not in state_dict:
                continue
            table = state_dict[ckpt_key]  # ((2w-1)^2, heads)
            if table.shape == current.shape:
                continue
            src, dst = math.isqrt(table.shape[0]), math.isqrt(current.shape[0])
            state_dict[ckpt_key] = resize_bias_table(table, current.shape[0], self.bias_resize)
            state_dict.pop(ckpt_key.replace('bias_table', 'index'), None)
            state_dict[prefix + key.replace('bias_table', 'index')] = \
                own[key.replace('bias_table', 'index')]
            print_log(f'TransferSwin: relative_position_bias_table {key} resized {src}x{src} -> '
                      f'{dst}x{dst} ({self.bias_resize})', logger='current')


@MODELS.register_module()
class TransferConvNeXt(StrictPretrainedMixin, ConvNeXt):
    """mmpretrain's ``ConvNeXt`` with a strict ``Pretrained`` load (FCMAE ConvNeXt V2 transfer).

    The FCMAE encoder adds no parameter to ``ConvNeXt(use_grn=True, layer_scale_init_value=0.)``
    (its masking is parameter-free; the mask token lives in the decoder), so its checkpoint must
    fill this backbone: nothing unused, and nothing missing but the last stage's final norm
    ``norm{last}``. FCMAE pre-trains without one (:class:`FCMAEConvNeXt`'s default
    ``final_norm=False``), and the official fine-tuning starts a fresh norm after global pooling;
    a checkpoint pre-trained with ``final_norm=True`` fills it. All arguments are those of
    ``ConvNeXt``.
    """

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """The last stage's final norm may be missing (fresh, as FCMAE's fine-tuning); no unused key."""
        last = self.num_stages - 1
        return ([f'norm{last}.*'] if last in self.out_indices else []), []
