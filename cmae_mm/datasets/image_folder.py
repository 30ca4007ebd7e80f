"""A folder of your own unlabelled images, for pre-training: mmpretrain's ``CustomDataset``
(``with_label=False``) that refuses a folder without images in one line.

Every file under ``data_root`` (sub-folders at any depth) whose name ends in one of
:data:`IMAGE_EXTENSIONS` (case-insensitive) is one sample; other files are ignored and folder
names carry no meaning (no labels). mmpretrain lists the files (``get_samples``) and builds the
samples (``CustomDataset.load_data_list``); this class only adds the check, so that
``tools/train.py`` stops with ``tools/train.py: error: ...`` naming the folder instead of a
traceback deep inside the Runner::

    train_dataloader = dict(dataset=dict(
        type='UnlabeledImageFolder', data_root='data/my_images', pipeline=train_pipeline))
"""
from typing import List, Sequence

from mmengine.fileio import get_file_backend
from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.custom import get_samples
from mmpretrain.registry import DATASETS

__all__ = ['IMAGE_EXTENSIONS', 'UnlabeledImageFolder']

#: File name endings read as images: ``CustomDataset``'s defaults plus ``.tiff`` and ``.webp``
#: (all decoded by OpenCV and Pillow).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class UnlabeledImageFolder(CustomDataset):
    """Every image under a folder, nested sub-folders included, without labels.

    Samples are ``{'img_path': <path>}`` in sorted path order (as ``CustomDataset`` with
    ``with_label=False`` gives them), so every pre-training pipeline of the suite applies.

    Args:
        data_root (str): The folder of images.
        data_prefix (str | dict): Sub-folder of ``data_root`` to read. Defaults to ''.
        extensions (Sequence[str]): Accepted file name endings, case-insensitive.
            Defaults to :data:`IMAGE_EXTENSIONS`.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.CustomDataset` (``pipeline``,
            ``indices``, ``lazy_init``, ``serialize_data``, ...), except ``with_label`` (always
            False) and ``ann_file`` (the folder is the list).

    Raises:
        ValueError: If ``with_label`` or ``ann_file`` is given.
        FileNotFoundError: When the samples are loaded (at construction unless ``lazy_init``):
            the folder does not exist, or holds no file with one of ``extensions``. One line that
            names the folder and the accepted endings.
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: str = '',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        for key in ('with_label', 'ann_file'):
            if kwargs.get(key):
                raise ValueError(f'UnlabeledImageFolder got {key}={kwargs[key]!r}: it reads every '
                                 'image under data_root, without labels (for labelled class '
                                 "folders use type='CustomDataset')")
            kwargs.pop(key, None)
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file='',
                         with_label=False, extensions=extensions, **kwargs)

    def _find_samples(self) -> List[str]:
        """The image files under the folder, relative to it, sorted.

        Returns:
            List[str]: Relative paths (``sub/folder/name.jpg``).

        Raises:
            FileNotFoundError: The folder does not exist or holds no image file.
        """
        folder = self.img_prefix
        backend = get_file_backend(folder, enable_singleton=True)
        allowed = ', '.join(sorted(self.extensions))
        shown = folder.rstrip('/') or folder  # img_prefix is data_root joined with ''
        if not backend.isdir(folder):
            raise FileNotFoundError(
                f'image folder {shown} does not exist (UnlabeledImageFolder: set '
                'train_dataloader.dataset.data_root to a folder of images)')
        samples, _ = get_samples(folder, None, is_valid_file=self.is_valid_file, backend=backend)
        if not samples:
            raise FileNotFoundError(
                f'image folder {shown} holds no image file (searched its sub-folders too for '
                f'names ending in {allowed}, any case)')
        return samples
