"""Datasets missing upstream, registered into mmpretrain's ``DATASETS`` (the Fashion-MNIST scenes'
segmentation dataset into mmseg's), and the suite's transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .fashion_mnist import FashionMNISTLabelSubset
from .fashion_mnist_scenes import FashionMNISTScenesSegDataset
from .image_folder import IMAGE_EXTENSIONS, UnlabeledImageFolder
from .imagenet100 import IMAGENET100_CLASSES, ImageNet100, MissingClassesError, load_class_list
from .stanford_dogs import StanfordDogs
from .tiny_imagenet import TinyImageNet

__all__ = ['FashionMNISTLabelSubset', 'FashionMNISTScenesSegDataset', 'IMAGENET100_CLASSES',
           'IMAGE_EXTENSIONS', 'ImageNet100', 'MissingClassesError', 'StanfordDogs', 'TinyImageNet',
           'UnlabeledImageFolder', 'load_class_list']
