"""Backbones: the pre-training encoders of the three families and their downstream encoders."""
from .cmae_simmim_swin import CMAESimMIMSwinTransformer
from .cmae_vit import CMAEViT
from .fcmae_convnext import FCMAEConvNeXt
from .strict_pretrained import StrictPretrainedMixin
from .transfer_hierarchical import TransferConvNeXt, TransferSwin
from .transfer_vit import TransferViT

__all__ = ['CMAESimMIMSwinTransformer', 'CMAEViT', 'FCMAEConvNeXt', 'StrictPretrainedMixin',
           'TransferConvNeXt', 'TransferSwin', 'TransferViT']
