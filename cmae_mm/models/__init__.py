"""Models of the suite, registered into mmpretrain's ``MODELS`` on import.

One file per registered component, the three families side by side:

================  ==========================  ==================  ========================
family            backbone                    neck                algorithm (selfsup)
================  ==========================  ==================  ========================
ViT (MAE)         CMAEViT                     MAEPretrainDecoder  ConditionalMAE
Swin (SimMIM)     CMAESimMIMSwinTransformer   SimMIMLinearDecoder CMAESimMIM
ConvNeXt V2       FCMAEConvNeXt               FCMAEDecoder        FCMAE
================  ==========================  ==================  ========================

Downstream encoders with strict checkpoint loading: TransferViT, TransferSwin, TransferConvNeXt.
The shot schedules of all of them are :mod:`cmae_mm.masking`.
"""
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .selfsup import *  # noqa: F401,F403
