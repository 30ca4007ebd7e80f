"""Downstream encoders of the hierarchical families, loading their pre-training checkpoint strictly."""
import math
from typing import List, Tuple

import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.models import ConvNeXt, SwinTransformer
from mmpretrain.registry import MODELS

from .strict_pretrained import StrictPretrainedMixin

__all__ = ['TransferConvNeXt', 'TransferSwin']


@MODELS.register_module()
class TransferSwin(StrictPretrainedMixin, SwinTransformer):
    """mmpretrain's ``SwinTransformer`` with a strict ``Pretrained`` load (SimMIM-Swin transfer).

    A (two-shot) SimMIM pre-training checkpoint holds the encoder under ``backbone.*`` in this
    class's key layout, plus the learnable mask tokens of its shots (``mask_token`` of shot 1 and
    ``mask_token_stage<ℓ>`` of later shots): those are the only keys allowed to be unused; no
    encoder key may be missing. Relative position bias tables are resized by ``SwinTransformer``'s
    own load hook (window 6 at 192 px -> window 7 at 224 px). All arguments are those of
    ``SwinTransformer``.
    """

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """No key may be missing; the pre-training mask tokens are unused."""
        return [], ['mask_token*']

    def _prepare_relative_position_bias_table(self, state_dict: dict, prefix: str, *args,
                                              **kwargs) -> None:
        """Resize checkpoint bias tables to this model's window (load-state-dict pre-hook).

        Replaces ``SwinTransformer``'s hook, whose ``resize_relative_position_bias_table`` calls
        ``scipy.interpolate.interp2d``, removed in SciPy 1.14 (this stack has 1.15): the
        ``(2w-1)^2 x heads`` table is resized per head as a ``(2w-1) x (2w-1)`` image, bicubic
        (as SimMIM's own fine-tuning code does), and the stale index buffer is dropped (the
        model's own one is kept).

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
            (src_len, heads), dst_len = table.shape, current.shape[0]
            src, dst = math.isqrt(src_len), math.isqrt(dst_len)
            grid = table.T.reshape(1, heads, src, src).float()
            resized = F.interpolate(grid, size=(dst, dst), mode='bicubic', align_corners=False)
            state_dict[ckpt_key] = resized.reshape(heads, dst_len).T.to(table.dtype).contiguous()
            state_dict.pop(ckpt_key.replace('bias_table', 'index'), None)
            state_dict[prefix + key.replace('bias_table', 'index')] = \
                own[key.replace('bias_table', 'index')]
            print_log(f'TransferSwin: relative_position_bias_table {key} resized {src}x{src} -> '
                      f'{dst}x{dst} (bicubic)', logger='current')


@MODELS.register_module()
class TransferConvNeXt(StrictPretrainedMixin, ConvNeXt):
    """mmpretrain's ``ConvNeXt`` with a strict ``Pretrained`` load (FCMAE ConvNeXt V2 transfer).

    The FCMAE encoder adds no parameter to ``ConvNeXt(use_grn=True, layer_scale_init_value=0.)``
    (its masking is parameter-free; the mask token lives in the decoder), so its checkpoint must
    fill this backbone exactly: no key missing, none unused. All arguments are those of
    ``ConvNeXt``.
    """
