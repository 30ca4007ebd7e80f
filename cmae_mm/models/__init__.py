"""Models of the suite, registered into mmpretrain's ``MODELS`` on import."""
from .backbones.cmae_vit import CMAEViT
from .backbones.transfer_vit import TransferViT
from .heads.cmae_head import CMAEPretrainHead
from .selfsup.cmae import ConditionalMAE

__all__ = ['CMAEViT', 'CMAEPretrainHead', 'ConditionalMAE', 'TransferViT']
