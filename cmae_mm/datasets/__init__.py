"""Datasets missing upstream, registered into mmpretrain's ``DATASETS``, and the suite's transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .fashion_mnist import FashionMNISTLabelSubset
from .imagenet100 import IMAGENET100_CLASSES, ImageNet100, MissingClassesError, load_class_list
from .stanford_dogs import StanfordDogs
from .tiny_imagenet import TinyImageNet

__all__ = ['FashionMNISTLabelSubset', 'IMAGENET100_CLASSES', 'ImageNet100', 'MissingClassesError', 'StanfordDogs',
           'TinyImageNet', 'load_class_list']
