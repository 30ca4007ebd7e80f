"""Downstream encoders of the hierarchical families, loading their pre-training checkpoint strictly."""
from typing import List, Tuple

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


@MODELS.register_module()
class TransferConvNeXt(StrictPretrainedMixin, ConvNeXt):
    """mmpretrain's ``ConvNeXt`` with a strict ``Pretrained`` load (FCMAE ConvNeXt V2 transfer).

    The FCMAE encoder adds no parameter to ``ConvNeXt(use_grn=True, layer_scale_init_value=0.)``
    (its masking is parameter-free; the mask token lives in the decoder), so its checkpoint must
    fill this backbone exactly: no key missing, none unused. All arguments are those of
    ``ConvNeXt``.
    """
