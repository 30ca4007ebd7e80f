"""Datasets missing upstream, registered into mmpretrain's ``DATASETS`` (the Fashion-MNIST scenes'
segmentation dataset into mmseg's), the suite's transforms, and the ImageNet-100 builder
(:func:`build_imagenet100`)."""
from . import transforms  # noqa: F401  (registers the transforms)
from .fashion_mnist import FashionMNISTLabelSubset
from .fashion_mnist_scenes import FashionMNISTScenesSegDataset
from .image_folder import IMAGE_EXTENSIONS, UnlabeledImageFolder
from .imagenet100 import (IMAGENET100_CLASSES, BuildSummary, ImageNet100, MissingClassesError,
                          build_imagenet100, load_class_list)
from .stanford_dogs import StanfordDogs
from .tiny_imagenet import TinyImageNet

__all__ = ['BuildSummary', 'FashionMNISTLabelSubset', 'FashionMNISTScenesSegDataset',
           'IMAGENET100_CLASSES', 'IMAGE_EXTENSIONS', 'ImageNet100', 'MissingClassesError',
           'StanfordDogs', 'TinyImageNet', 'UnlabeledImageFolder', 'build_imagenet100',
           'load_class_list']
