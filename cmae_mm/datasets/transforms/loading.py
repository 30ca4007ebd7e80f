"""Fused ``LoadImageFromFile`` + ``RandomResizedCrop``: sample the box, then decode and resize.

The MAE-style pre-training pipeline::

    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),

decodes the whole JPEG with OpenCV, slices a (non-contiguous) crop out of it, copies that crop into
a Pillow image (slow for a strided array) and resizes it with Pillow. :class:`LoadRandomResizedCrop`
gives the same result about twice as fast (``tools/analysis/benchmark_pipeline.py``):

* the crop box is sampled by mmpretrain's own :meth:`RandomResizedCrop.rand_crop_params` (this class
  subclasses it), for a JPEG from the image size in the file header before any pixel is decoded.
  It consumes the global numpy RNG exactly as the stock pair does, so with the same seed it draws
  the same boxes (and the transforms after it, e.g. ``RandomFlip``, the same numbers);
* when the crop, reduced by 2, 4 or 8, is still at least the output size on both sides (so the
  final resize still only downsamples and the output keeps its detail), the JPEG is decoded at that
  reduced size with libjpeg's DCT scaling (Pillow's ``Image.draft``) and Pillow resamples the
  crop straight from it (``Image.resize(..., box=...)``). On ImageNet-sized files (~500x375) with a
  224 output this never applies; it does on larger photos or with smaller outputs;
* otherwise the image is decoded exactly as ``LoadImageFromFile`` does (``mmcv.imfrombytes``,
  OpenCV: BGR, EXIF orientation applied, greyscale/palette/CMYK/16-bit converted its way) and the
  crop, a view into it, is resized by torch's uint8 antialiased kernels, which implement Pillow's
  filters (within +-2 grey levels of ``Image.resize``) about twice as fast, with no copy into
  Pillow.

The output is what the stock pair produces: ``results['img']`` a writable, C-contiguous BGR uint8
``(h, w, 3)`` array (the ``data_preprocessor``'s ``to_rgb`` flips it as before), ``img_shape`` its
shape and ``ori_shape`` the decoded image's ``(h, w)``.

Unlike the stock pair, where OpenCV returns a truncated JPEG with its missing part grey and an
unreadable file as ``None`` (failing later on ``None.shape``), a truncated, corrupt or non-image
file raises :class:`ImageDecodeError` naming the file.
"""
import io
import logging
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

# ``interpolation`` names -> Pillow filters (those of mmcv.imresize's pillow backend).
PILLOW_FILTERS = {
    'nearest': Image.Resampling.NEAREST,
    'bilinear': Image.Resampling.BILINEAR,
    'bicubic': Image.Resampling.BICUBIC,
    'box': Image.Resampling.BOX,
    'lanczos': Image.Resampling.LANCZOS,
    'hamming': Image.Resampling.HAMMING,
}
# The same filters in torch.nn.functional.interpolate (antialiased, Pillow's kernels). Box, Lanczos
# and Hamming have no torch equivalent: Pillow resizes those.
_TORCH_MODES = {'nearest': 'nearest-exact', 'bilinear': 'bilinear', 'bicubic': 'bicubic'}
_DRAFT_FACTORS = (8, 4, 2)
_EXIF_ORIENTATION = 0x0112
_JPEG_SOI = b'\xff\xd8'


class ImageDecodeError(OSError):
    """A file could not be read as an image (truncated, corrupt or not an image)."""


@TRANSFORMS.register_module()
class LoadRandomResizedCrop(RandomResizedCrop):
    """Load an image file and take a random resized crop of it in one step.

    A drop-in replacement for ``LoadImageFromFile`` followed by
    ``RandomResizedCrop(backend='pillow')``: same crop sampling (inherited), same output keys,
    shape, dtype and BGR channel order, pixels within resampling differences of the stock pair
    (see the module docstring), about twice as fast.

    **Required Keys:**

    - img_path

    **Added Keys:**

    - img (BGR uint8, or float32 with ``to_float32``; shape ``(h, w, 3)`` from ``scale``)
    - img_shape (``img.shape``, as ``RandomResizedCrop`` sets it)
    - ori_shape (``(h, w)`` of the decoded image)

    Args:
        scale (int | Sequence[int]): Output size; an int gives a square ``(scale, scale)``, a
            sequence is ``(h, w)``.
        crop_ratio_range (Tuple[float, float]): Range of the crop area as a fraction of the image
            area. Defaults to (0.08, 1.0).
        aspect_ratio_range (Tuple[float, float]): Range of the crop aspect ratio (w / h).
            Defaults to (3 / 4, 4 / 3).
        max_attempts (int): Sampling attempts before falling back to a central crop. Defaults to 10.
        interpolation (str): ``'nearest'``, ``'bilinear'``, ``'bicubic'``, ``'box'``,
            ``'lanczos'`` or ``'hamming'`` (Pillow's filters). Defaults to ``'bilinear'`` (as
            ``RandomResizedCrop``).
        backend (str): Only ``'pillow'`` (Pillow's antialiased filters); ``RandomResizedCrop``'s
            ``'cv2'`` resize (no antialiasing) is not reproduced.
        draft (bool): Use JPEG DCT-scaled decoding when the crop allows it. Defaults to True.
            Never used with ``'nearest'``, which picks single pixels (DCT scaling averages them).
        to_float32 (bool): Return a float32 image, as ``LoadImageFromFile(to_float32=True)``.
            Defaults to False.
        backend_args (dict, optional): File backend arguments for ``mmengine.fileio.get``, as in
            ``LoadImageFromFile``. Defaults to None (the backend is inferred from the path).
        skip_bad_images (bool): ``False`` (default): a truncated, corrupt or non-image file raises
            :class:`ImageDecodeError` naming it. ``True``: it is logged (a warning naming the file
            and the running count, :attr:`num_skipped`) and the transform returns None, so that
            mmengine's dataset draws another sample (in training; ``BaseDataset`` re-fetches up
            to ``max_refetch`` times).
    """

    def __init__(self,
                 scale: Union[Sequence[int], int],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'pillow',
                 draft: bool = True,
                 to_float32: bool = False,
                 backend_args: Optional[dict] = None,
                 skip_bad_images: bool = False) -> None:
        if backend != 'pillow':
            raise ValueError(
                f"LoadRandomResizedCrop resizes with Pillow's filters only (backend='pillow'), "
                f'got backend={backend!r}; for the cv2 resize use LoadImageFromFile + '
                f'RandomResizedCrop')
        if interpolation not in PILLOW_FILTERS:
            raise ValueError(f'interpolation must be one of {sorted(PILLOW_FILTERS)}, '
                             f'got {interpolation!r}')
        # The parent only accepts its own interpolation names; ours are validated above.
        super().__init__(scale, crop_ratio_range=crop_ratio_range,
                         aspect_ratio_range=aspect_ratio_range, max_attempts=max_attempts,
                         interpolation='bicubic', backend=backend)
        self.interpolation = interpolation
        self.draft = draft and interpolation != 'nearest'
        self.to_float32 = to_float32
        self.backend_args = None if backend_args is None else dict(backend_args)
        self.skip_bad_images = bool(skip_bad_images)
        #: Files skipped so far by this worker (``skip_bad_images=True``).
        self.num_skipped = 0

    def draft_factor(self, crop_w: int, crop_h: int) -> int:
        """The largest DCT scaling factor that keeps the crop at least the output size.

        Args:
            crop_w: Crop width in pixels of the full-size image.
            crop_h: Crop height in pixels of the full-size image.

        Returns:
            8, 4, 2 or 1 (no reduction).
        """
        out_h, out_w = self.scale
        for factor in _DRAFT_FACTORS:
            if crop_w >= factor * out_w and crop_h >= factor * out_h:
                return factor
        return 1

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` and store its random resized crop.

        Args:
            results: Result dict with ``img_path``.

        Returns:
            ``results`` with ``img``, ``img_shape`` and ``ori_shape`` set; None for a bad file
            with ``skip_bad_images=True``.

        Raises:
            ImageDecodeError: The file is not an image, or is truncated or corrupt; the message
                names the file.
        """
        filename = results['img_path']
        img_bytes = fileio.get(filename, backend_args=self.backend_args)
        try:
            img, ori_shape = self._load_crop(img_bytes)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            # Pillow reports truncated data and bad markers this way; _decode raises OSErrors.
            if not self.skip_bad_images:
                raise ImageDecodeError(
                    f'cannot decode image {filename}: {e} (to skip such files, set '
                    'skip_bad_images=True in LoadRandomResizedCrop)') from e
            self.num_skipped += 1
            print_log(f'LoadRandomResizedCrop: skipped {filename} ({e}); {self.num_skipped} '
                      'file(s) skipped so far in this worker', logger='current',
                      level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = ori_shape
        return results

    def _load_crop(self, img_bytes: bytes) -> Tuple[np.ndarray, Tuple[int, int]]:
        """Decode, crop and resize; return the BGR crop and the decoded image's ``(h, w)``."""
        im = self._open_draftable(img_bytes) if self.draft else None
        if im is not None:
            # The stock sampler only reads ``img.shape[:2]``: give it the header size, no pixels.
            w, h = im.size
            top, left, crop_h, crop_w = self.rand_crop_params(np.empty((h, w, 0), np.uint8))
            factor = self.draft_factor(crop_w, crop_h)
            if factor > 1:
                return self._draft_crop(im, factor, (left, top, crop_w, crop_h)), (h, w)
            img = self._decode(img_bytes)
            if img.shape[:2] != (h, w):
                raise ImageDecodeError(f'decoded size {img.shape[:2]} differs from the header size '
                                       f'{(h, w)}')
        else:
            img = self._decode(img_bytes)
            h, w = img.shape[:2]
            top, left, crop_h, crop_w = self.rand_crop_params(img)
        return self._resize(img[top:top + crop_h, left:left + crop_w]), (h, w)

    @staticmethod
    def _open_draftable(img_bytes: bytes) -> Optional[Image.Image]:
        """The lazily opened image if DCT-scaled decoding can apply to it, else None.

        That is a JPEG (starts with SOI) Pillow decodes as ``RGB`` (YCbCr/RGB) or ``L``, without an
        EXIF orientation to apply (OpenCV's full decode handles those, as in the stock pipeline).
        Only the header is read.
        """
        if not img_bytes.startswith(_JPEG_SOI):
            return None
        try:
            im = Image.open(io.BytesIO(img_bytes), formats=('JPEG',))
            if im.mode not in ('RGB', 'L'):
                return None
            if 'exif' in im.info and im.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                return None
        except Exception:  # noqa: BLE001  (a header Pillow dislikes: OpenCV decides, and reports)
            return None
        return im

    @staticmethod
    def _decode(img_bytes: bytes) -> np.ndarray:
        """Decode as ``LoadImageFromFile`` does (OpenCV, IMREAD_COLOR: BGR, EXIF orientation
        applied), but reject what it silently accepts: a JPEG cut short is decoded by libjpeg with
        its missing part grey; here it raises."""
        img = mmcv.imfrombytes(img_bytes, flag='color', backend='cv2')
        if img is None:
            raise ImageDecodeError('OpenCV cannot decode it (not an image, or corrupt)')
        # Entropy-coded data never contains 0xFFD9/0xFFDA (0xFF is always stuffed), so a complete
        # JPEG has its end-of-image marker after the last start-of-scan marker.
        if img_bytes.startswith(_JPEG_SOI) and img_bytes.rfind(b'\xff\xd9') < img_bytes.rfind(
                b'\xff\xda'):
            raise ImageDecodeError('truncated JPEG: the data ends before the end-of-image marker')
        return img

    def _resize(self, crop: np.ndarray) -> np.ndarray:
        """Resize a BGR crop (a view into the decoded image) to ``self.scale``.

        Bilinear/bicubic/nearest: torch's uint8 kernels, which implement Pillow's antialiased
        filters (within +-2 grey levels of ``Image.resize``; measured PSNR > 55 dB on photos) about
        twice as fast as Pillow and without copying the crop into a Pillow image. Box, Lanczos and
        Hamming: Pillow, as ``mmcv.imresize``.
        """
        out_h, out_w = self.scale
        mode = _TORCH_MODES.get(self.interpolation)
        if mode is None:
            im = Image.fromarray(np.ascontiguousarray(crop))
            return np.array(im.resize((out_w, out_h), PILLOW_FILTERS[self.interpolation]))
        x = torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0)
        kwargs = {} if mode == 'nearest-exact' else dict(antialias=True, align_corners=False)
        y = F.interpolate(x, size=(out_h, out_w), mode=mode, **kwargs)
        return y[0].permute(1, 2, 0).contiguous().numpy()

    def _draft_crop(self, im: Image.Image, factor: int,
                    crop: Tuple[int, int, int, int]) -> np.ndarray:
        """Decode ``im`` at 1/``factor`` size (libjpeg DCT scaling) and resize the crop from it.

        Pillow resamples from the fractional box directly (the reduced crop is at least the output
        size, so this still only downsamples).
        """
        left, top, crop_w, crop_h = crop
        w = im.size[0]
        box = (left, top, left + crop_w, top + crop_h)
        drafted = im.draft(im.mode, (w // factor, im.size[1] // factor))
        if drafted is not None:
            scale = w / drafted[1][2]  # the factor libjpeg applies
            box = tuple(v / scale for v in box)
        out_h, out_w = self.scale
        im = im.resize((out_w, out_h), PILLOW_FILTERS[self.interpolation], box=box)
        # A new writable, contiguous BGR array (cv2 swaps channels ~50x faster than a numpy
        # strided copy). L: replicating after the resize equals converting before it.
        arr = np.asarray(im)
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR if arr.ndim == 2 else cv2.COLOR_RGB2BGR)

    def __repr__(self) -> str:
        """Print the transform and its arguments."""
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'crop_ratio_range={tuple(round(s, 4) for s in self.crop_ratio_range)}, '
                f'aspect_ratio_range={tuple(round(r, 4) for r in self.aspect_ratio_range)}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation}, '
                f'draft={self.draft}, '
                f'to_float32={self.to_float32}, backend_args={self.backend_args})')
