"""Self-supervised algorithms: Conditional MAE (ViT), two-shot SimMIM (Swin), FCMAE (ConvNeXt V2)."""
from .cmae import ConditionalMAE
from .cmae_simmim import CMAESimMIM
from .fcmae import FCMAE

__all__ = ['CMAESimMIM', 'ConditionalMAE', 'FCMAE']
