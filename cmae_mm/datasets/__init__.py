"""Datasets missing upstream, registered into mmpretrain's ``DATASETS``."""
from .imagenet100 import (IMAGENET100_CLASSES, BuildSummary, ImageNet100, MissingClassesError,
                          SplitSummary, build_imagenet100, load_class_list)
from .stanford_dogs import StanfordDogs
from .tiny_imagenet import TinyImageNet

__all__ = [
    'IMAGENET100_CLASSES', 'ImageNet100', 'build_imagenet100', 'load_class_list',
    'MissingClassesError', 'BuildSummary', 'SplitSummary', 'StanfordDogs', 'TinyImageNet'
]
