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
The shot schedules of all of them are :mod:`cmae_mm.masking`. :mod:`.losses` adds
``TraceableLabelSmoothLoss``, mmpretrain's ``LabelSmoothLoss`` that ``torch.compile`` traces
whole, under its own name (upstream's entry is left as it is). :mod:`.converters` (not imported
here) extracts a pre-trained ViT encoder in mmpretrain's or timm's key layout.
"""
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .selfsup import *  # noqa: F401,F403
