"""Data transforms of the suite, registered into mmpretrain's ``TRANSFORMS``."""
from .loading import ImageDecodeError, LoadRandomResizedCrop
from .robustness import IMAGENET_MEAN_RGB, PatchOcclusion, PatchShuffle

__all__ = ['IMAGENET_MEAN_RGB', 'ImageDecodeError', 'LoadRandomResizedCrop', 'PatchOcclusion',
           'PatchShuffle']
