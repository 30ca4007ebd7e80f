"""LoadRandomResizedCrop, the fused load + random resized crop (cmae_mm/datasets/transforms).

Compared with the stock pair ``LoadImageFromFile`` + ``RandomResizedCrop(backend='pillow')`` on
real photographs (scikit-learn's and scikit-image's sample photos saved as JPEGs):

* boxes: the crop sampler is RandomResizedCrop's own, so the same seed gives the same boxes and
  leaves the numpy RNG in the same state;
* pixels, for identical boxes, as PSNR between the two outputs:

  - without DCT scaling (small crops; every crop of an ImageNet-sized file at 224) the image is
    decoded by the very same OpenCV call as the stock pipeline and only the resize implementation
    differs (torch's uint8 antialiased kernels vs Pillow's, the same filter up to rounding:
    +-2 grey levels at worst): bound ``PSNR_BOUND_FULL_DECODE`` = 50 dB, measured >= ~70 dB;
  - with 1/2, 1/4 DCT scaling (large crops at output 96, whole 512x512 image at 224) libjpeg's
    scaled IDCT replaces part of the antialiasing: bound ``PSNR_BOUND`` = 30 dB, measured >= ~36 dB.
    Why 30 dB: about the PSNR of re-encoding a photograph as a quality-75 JPEG (roughly the
    quality of ImageNet's own files), a difference the training data already contains and far
    below what the random crop, flip and resize do to an image;
* output format: keys, shapes, dtype, BGR channel order, writable contiguous arrays;
* errors: a truncated JPEG and a text file named .JPEG raise errors naming the file.
"""
import re
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from PIL import Image

from helpers import PYTHON, REPO

CROP = dict(scale=224, crop_ratio_range=(0.2, 1.0), interpolation='bicubic', backend='pillow')
# See the module docstring. With DCT-scaled decoding: about a quality-75 JPEG re-encode.
PSNR_BOUND = 30.0
# Same decoder as the stock pipeline; only the resize implementation differs (rounding).
PSNR_BOUND_FULL_DECODE = 50.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope='module')
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Real photographs saved as quality-90 JPEGs at their native sizes: name -> path."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp('photos')
    arrays = dict(zip(('china', 'flower'), load_sample_images().images))
    arrays.update({name: getattr(data, name)() for name in ('astronaut', 'coffee', 'rocket')})
    paths = {}
    for name, array in arrays.items():
        paths[name] = root / f'{name}.JPEG'
        Image.fromarray(array).convert('RGB').save(paths[name], quality=90)
    return paths


def stock_transforms(**crop):
    """The stock pair, built from config dicts."""
    from mmpretrain.registry import TRANSFORMS

    return (TRANSFORMS.build(dict(type='LoadImageFromFile')),
            TRANSFORMS.build(dict(type='RandomResizedCrop', **{**CROP, **crop})))


def fast_transform(**crop):
    import cmae_mm.components  # noqa: F401
    from mmpretrain.registry import TRANSFORMS

    return TRANSFORMS.build(dict(type='LoadRandomResizedCrop', **{**CROP, **crop}))


def set_box(transform, box=None, record: Optional[list] = None) -> None:
    """Force the crop ``box`` (top, left, h, w) of ``transform``, or record the boxes it draws."""
    if box is not None:
        transform.rand_crop_params = lambda img: box
    elif record is not None:
        sample = transform.rand_crop_params
        transform.rand_crop_params = lambda img: record.append(sample(img)) or record[-1]


def run_stock(path, seed: int = 0, box=None, record=None, **crop) -> dict:
    """Stock pair on ``path`` with numpy seeded (``box``, ``record``: see ``set_box``)."""
    load, rrc = stock_transforms(**crop)
    set_box(rrc, box, record)
    np.random.seed(seed)
    return rrc(load(dict(img_path=str(path))))


def run_fast(path, seed: int = 0, box=None, record=None, **crop) -> dict:
    """LoadRandomResizedCrop on ``path``, numpy seeded (``box``, ``record``: see ``set_box``)."""
    t = fast_transform(**crop)
    set_box(t, box, record)
    np.random.seed(seed)
    return t(dict(img_path=str(path)))


# ------------------------------------------------------------------------------------------------
# Crop sampling


@pytest.mark.parametrize('crop_ratio_range', [(0.2, 1.0), (0.08, 1.0)])
def test_same_boxes_as_random_resized_crop(crop_ratio_range):
    """Same seed -> the same boxes, for every image shape (incl. the central-crop fallback)."""
    _, rrc = stock_transforms(crop_ratio_range=crop_ratio_range)
    fast = fast_transform(crop_ratio_range=crop_ratio_range)
    for h, w in ((375, 500), (500, 333), (224, 224), (60, 1000), (1000, 40)):
        np.random.seed(h + w)
        stock_boxes = [rrc.rand_crop_params(np.zeros((h, w, 3), np.uint8)) for _ in range(200)]
        np.random.seed(h + w)
        fast_boxes = [fast.rand_crop_params(np.empty((h, w, 0), np.uint8)) for _ in range(200)]
        assert fast_boxes == stock_boxes


def test_box_statistics():
    """Area fractions and aspect ratios of the drawn boxes stay in the configured ranges and
    spread over them (a sanity check of the sampler as used: header size, no pixels)."""
    fast = fast_transform()
    np.random.seed(0)
    h, w = 375, 500
    boxes = np.array([fast.rand_crop_params(np.empty((h, w, 0), np.uint8)) for _ in range(4000)])
    top, left, ch, cw = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + ch <= h).all() and (left + cw <= w).all()
    area = ch * cw / (h * w)
    ratio = cw / ch
    # Rounding to whole pixels moves the ends slightly.
    assert area.min() > 0.19 and area.max() <= 1.0 and np.median(area) > 0.4
    assert ratio.min() > 0.74 and ratio.max() < 1.35
    assert np.mean(np.abs(np.log(ratio)) < 0.1) > 0.2  # not all at the ends


@pytest.mark.parametrize('kind', ['jpeg', 'rgb_png', 'exif_rotated_jpeg'])
def test_same_boxes_and_rng_state_in_the_transform(tmp_path, kind):
    """Through the whole transform (header size for a plain JPEG, decoded size otherwise): the
    same boxes as the stock pair for the same seed, and the numpy RNG left where the stock pair
    leaves it, so the transforms that follow (RandomFlip, ...) draw the same numbers."""
    from sklearn.datasets import load_sample_images

    path = tmp_path / f'{kind}.img'
    save_variant(path, kind, load_sample_images().images[0])
    stock_boxes, fast_boxes = [], []
    for seed in range(8):
        for scale in (224, 96):  # 96: DCT-scaled decoding for the large boxes
            run_stock(path, seed, record=stock_boxes, scale=scale)
            after_stock = np.random.random(4)
            run_fast(path, seed, record=fast_boxes, scale=scale)
            np.testing.assert_array_equal(np.random.random(4), after_stock)
    assert fast_boxes == stock_boxes and len(stock_boxes) == 16


# ------------------------------------------------------------------------------------------------
# Pixels


def boxes_for(h: int, w: int, out: int):
    """Boxes (top, left, h, w): small ones (no DCT scaling possible) and large ones (scaling)."""
    return [
        (0, 0, int(h * 0.45), int(w * 0.45)),                        # 20% area, corner
        (h // 3, w // 4, int(h * 0.45), int(w * 0.5)),               # ~22%, inside
        (h - out // 2, w - out // 2, out // 2, out // 2),            # upsampling, bottom right
        (h // 10, w // 10, int(h * 0.8), int(w * 0.7)),              # large
        (0, 0, h, w),                                                # whole image
    ]


@pytest.fixture
def draft_factors(monkeypatch) -> list:
    """Records the DCT scaling factor of every ``Image.draft`` call (1: not scaled)."""
    from PIL import JpegImagePlugin

    factors = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy_draft(self, mode, size):
        result = real_draft(self, mode, size)
        factors.append(round(self.decoderconfig[0]) if self.decoderconfig else 1)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, 'draft', spy_draft)
    return factors


def check_close(fast: np.ndarray, stock: np.ndarray, factors: list, worst: dict, what) -> None:
    """Assert the bound for the decoding used (``factors``: the draft spy's record)."""
    kind = 'draft' if factors and factors[-1] > 1 else 'full'
    value = psnr(fast, stock)
    worst[kind] = min(worst.get(kind, np.inf), value)
    bound = PSNR_BOUND if kind == 'draft' else PSNR_BOUND_FULL_DECODE
    assert value >= bound, (what, kind, value)


def test_pixels_close_to_stock(photos, draft_factors):
    """Identical boxes -> PSNR >= PSNR_BOUND_FULL_DECODE (>= PSNR_BOUND with DCT scaling), at the
    MAE output size 224 and at 96 (where 1/2 and 1/4 DCT scaling engage on these photos)."""
    worst = {}
    for out in (224, 96):
        for name, path in photos.items():
            with Image.open(path) as im:
                w, h = im.size
            for box in boxes_for(h, w, out):
                stock = run_stock(path, box=box, scale=out)['img']
                draft_factors.clear()
                fast = run_fast(path, box=box, scale=out)['img']
                check_close(fast, stock, draft_factors, worst, (name, out, box))
    print(f'min PSNR (dB): {worst}')
    assert set(worst) == {'draft', 'full'}, 'both decoding paths must be exercised'


@pytest.mark.parametrize('interpolation', ['nearest', 'bilinear', 'lanczos'])
def test_other_interpolations_close_to_stock(photos, draft_factors, interpolation):
    """The other filters RandomResizedCrop's pillow backend offers (same seeds, same boxes)."""
    worst = {}
    for seed in range(4):
        for out in (224, 96):
            stock = run_stock(photos['astronaut'], seed, scale=out, interpolation=interpolation)
            draft_factors.clear()
            fast = run_fast(photos['astronaut'], seed, scale=out, interpolation=interpolation)
            check_close(fast['img'], stock['img'], draft_factors, worst, (seed, out))
    print(f'{interpolation}: min PSNR (dB) {worst}')


def test_draft_factor_keeps_output_resolution():
    t = fast_transform()
    assert t.draft_factor(447, 500) == 1  # 447 / 2 < 224
    assert t.draft_factor(448, 448) == 2
    assert t.draft_factor(1000, 900) == 4
    assert t.draft_factor(2000, 1800) == 8
    assert fast_transform(scale=(100, 200)).draft_factor(400, 200) == 2  # scale is (h, w)


# ------------------------------------------------------------------------------------------------
# Output format


def test_output_format_matches_stock(photos):
    stock = run_stock(photos['rocket'], seed=3)
    fast = run_fast(photos['rocket'], seed=3)
    assert set(fast) == set(stock) == {'img_path', 'img', 'img_shape', 'ori_shape'}
    assert fast['img'].shape == stock['img'].shape == (224, 224, 3)
    assert fast['img'].dtype == stock['img'].dtype == np.uint8
    assert fast['img_shape'] == stock['img_shape'] == (224, 224, 3)
    assert fast['ori_shape'] == stock['ori_shape'] == (427, 640)
    assert fast['img'].flags.c_contiguous and fast['img'].flags.writeable
    assert psnr(fast['img'], stock['img']) >= PSNR_BOUND
    t = fast_transform(to_float32=True)
    assert t(dict(img_path=str(photos['rocket'])))['img'].dtype == np.float32


def test_channel_order_is_bgr(tmp_path):
    """A pure red JPEG comes out as BGR (0, 0, 255), as LoadImageFromFile gives it."""
    path = tmp_path / 'red.JPEG'
    Image.new('RGB', (500, 375), (255, 0, 0)).save(path, quality=95)
    stock = run_stock(path)['img']
    fast = run_fast(path)['img']
    assert stock[..., 2].mean() > 240 and stock[..., 0].mean() < 15
    assert np.abs(fast.astype(int) - stock.astype(int)).max() <= 2


def test_full_pipelines_pack_the_same(photos):
    """Through RandomFlip and PackInputs: the same packed keys, tensor shape/dtype and metainfo."""
    import cmae_mm.components  # noqa: F401
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS

    tail = [dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]
    head = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', **CROP)]
    stock = Compose([TRANSFORMS.build(t) for t in head + tail])
    fast = Compose([TRANSFORMS.build(t)
                    for t in [dict(type='LoadRandomResizedCrop', **CROP)] + tail])
    for seed in range(4):
        np.random.seed(seed)
        a = stock(dict(img_path=str(photos['coffee'])))
        np.random.seed(seed)
        b = fast(dict(img_path=str(photos['coffee'])))
        assert set(a) == set(b) == {'inputs', 'data_samples'}
        assert a['inputs'].shape == b['inputs'].shape == (3, 224, 224)
        assert a['inputs'].dtype == b['inputs'].dtype
        assert a['data_samples'].metainfo == b['data_samples'].metainfo  # incl. flip
        assert psnr(a['inputs'].numpy(), b['inputs'].numpy()) >= PSNR_BOUND


def test_finetune_pipeline_of_the_configs_matches_upstreams(photos):
    """The fine-tuning configs' pipeline (LoadRandomResizedCrop, then upstream's RandomFlip,
    RandAugment, RandomErasing, PackInputs) against upstream mmpretrain's MAE fine-tuning
    pipeline, read from both config files: the same steps after the first two, and under the same
    seed the same flips and augmentations (the random numbers are drawn in the same order), so
    the packed images agree to the crop's resampling differences."""
    import cmae_mm.components  # noqa: F401
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS

    ours = Config.fromfile(str(REPO / 'configs/_base_/classification/mae_finetune_100e.py'))
    import mmpretrain
    theirs = Config.fromfile(str(Path(mmpretrain.__file__).parent / '.mim/configs/mae/benchmarks/'
                                 'vit-base-p16_8xb128-coslr-100e_in1k.py'))
    fast, stock = ours.train_dataloader.dataset.pipeline, theirs.train_dataloader.dataset.pipeline
    assert [t['type'] for t in stock[:2]] == ['LoadImageFromFile', 'RandomResizedCrop']
    crop = {k: v for k, v in stock[1].items() if k not in ('type', 'backend')}
    assert fast[0] == dict(crop, type='LoadRandomResizedCrop') and stock[1]['backend'] == 'pillow'
    assert fast[1:] == stock[2:]
    fast, stock = (Compose([TRANSFORMS.build(dict(t)) for t in p]) for p in (fast, stock))
    for seed in range(6):
        np.random.seed(seed)
        a = stock(dict(img_path=str(photos['china'])))
        np.random.seed(seed)
        b = fast(dict(img_path=str(photos['china'])))
        assert a['inputs'].shape == b['inputs'].shape == (3, 224, 224)
        assert a['data_samples'].metainfo == b['data_samples'].metainfo
        assert psnr(a['inputs'].numpy(), b['inputs'].numpy()) >= PSNR_BOUND, seed


def save_variant(path, kind: str, photo: np.ndarray):
    """Write ``photo`` as one of the file kinds the transform handles differently."""
    im = Image.fromarray(photo)
    if kind == 'grey_jpeg':
        im.convert('L').save(path, 'JPEG', quality=90)
    elif kind == 'cmyk_jpeg':
        im.convert('CMYK').save(path, 'JPEG', quality=90)
    elif kind == 'palette_png':
        im.convert('P', palette=Image.Palette.ADAPTIVE).save(path, 'PNG')
    elif kind == 'rgba_png':
        im.convert('RGBA').save(path, 'PNG')
    elif kind == 'rgb_png':
        im.save(path, 'PNG')
    elif kind == 'grey16_png':
        Image.fromarray(np.asarray(im.convert('L')).astype(np.uint16) * 257).save(path, 'PNG')
    elif kind == 'jpeg':
        im.save(path, 'JPEG', quality=90)
    elif kind == 'exif_rotated_jpeg':
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise for display
        im.save(path, 'JPEG', quality=90, exif=exif.tobytes())
    else:
        raise ValueError(kind)


@pytest.mark.parametrize('kind', ['grey_jpeg', 'cmyk_jpeg', 'palette_png', 'rgba_png', 'rgb_png',
                                  'grey16_png', 'exif_rotated_jpeg'])
def test_other_files_match_stock(tmp_path, draft_factors, kind):
    """Greyscale, CMYK, palette, alpha, 16-bit and EXIF-rotated files: same shapes as the stock
    pair and pixels within the bound (same seed -> same boxes, large and small)."""
    from skimage import data

    path = tmp_path / f'{kind}.img'
    save_variant(path, kind, data.coffee())  # 600x400
    worst = {}
    for seed in range(6):
        for scale in (224, 96):
            stock = run_stock(path, seed, scale=scale)
            draft_factors.clear()
            fast = run_fast(path, seed, scale=scale)
            assert fast['ori_shape'] == stock['ori_shape']
            assert fast['img'].shape == stock['img'].shape == (scale, scale, 3)
            assert fast['img'].dtype == np.uint8
            check_close(fast['img'], stock['img'], draft_factors, worst, (kind, seed, scale))
    print(f'{kind}: min PSNR (dB) {worst}')
    if kind == 'exif_rotated_jpeg':
        assert fast['ori_shape'] == (600, 400)


# ------------------------------------------------------------------------------------------------
# Errors and registration


def test_truncated_jpeg_names_the_file(photos, tmp_path):
    from cmae_mm.datasets.transforms import ImageDecodeError

    data = photos['china'].read_bytes()
    path = tmp_path / 'truncated.JPEG'
    path.write_bytes(data[:len(data) // 2])
    for crop in (dict(), dict(scale=96)):  # full-size and DCT-scaled decoding
        with pytest.raises(ImageDecodeError, match=re.escape(str(path))):
            run_fast(path, box=(0, 0, 400, 600), **crop)
    assert issubclass(ImageDecodeError, OSError)


def test_text_file_names_the_file(tmp_path):
    path = tmp_path / 'not_an_image.JPEG'
    path.write_text('this is not a JPEG\n' * 20)
    with pytest.raises(OSError, match=re.escape(str(path))):
        run_fast(path)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / 'missing.JPEG'
    with pytest.raises(OSError, match=re.escape(str(path))):
        run_fast(path)


def test_registered():
    import cmae_mm.components  # noqa: F401
    from mmpretrain.registry import TRANSFORMS

    from cmae_mm.datasets.transforms import LoadRandomResizedCrop

    t = TRANSFORMS.build(dict(type='LoadRandomResizedCrop', scale=224,
                              crop_ratio_range=(0.2, 1.0), interpolation='bicubic'))
    assert isinstance(t, LoadRandomResizedCrop)
    assert t.scale == (224, 224) and 'LoadRandomResizedCrop(scale=(224, 224)' in repr(t)
    with pytest.raises(ValueError, match="Pillow's filters only"):
        TRANSFORMS.build(dict(type='LoadRandomResizedCrop', scale=224, backend='cv2'))
    with pytest.raises(ValueError, match='interpolation'):
        TRANSFORMS.build(dict(type='LoadRandomResizedCrop', scale=224, interpolation='area'))


def test_bytes_backend_args(photos):
    """``backend_args`` reaches mmengine.fileio.get (any file backend works)."""
    t = fast_transform(backend_args=dict(backend='local'))
    out = t(dict(img_path=str(photos['flower'])))
    assert out['img'].shape == (224, 224, 3)


# ------------------------------------------------------------------------------------------------
# Benchmark script


@pytest.mark.parametrize('pipeline', ['pretrain', 'finetune'])
def test_benchmark_script_runs(tmp_path, pipeline):
    out = tmp_path / 'speed.json'
    proc = subprocess.run(
        [PYTHON, 'tools/analysis/benchmark_pipeline.py', '--rounds', '1', '--num-files', '4',
         '--images', '16', '--pipeline', pipeline, '--json', str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r'^stock\s+\d', proc.stdout, re.M), proc.stdout
    assert re.search(r'^fast\s+\d', proc.stdout, re.M), proc.stdout
    assert 'speed-up fast/stock' in proc.stdout
    import json
    numbers = json.loads(out.read_text())
    assert set(numbers['images_per_s']) == {'stock', 'fast'} and numbers['files'] == 4
    assert numbers['pipeline'] == pipeline
    assert ('RandAugment' in proc.stdout) == (pipeline == 'finetune')


def test_skip_bad_images_is_explicit_logged_and_counted(photos, tmp_path):
    """With skip_bad_images=True a bad file is logged and counted, and mmengine's training dataset
    draws another sample instead; without it the same file stops training naming the file."""
    import cmae_mm.components  # noqa: F401
    from mmpretrain.registry import DATASETS

    from cmae_mm.datasets.transforms import ImageDecodeError

    folder = tmp_path / 'data' / 'train' / 'cls'
    folder.mkdir(parents=True)
    (folder / 'a_good.JPEG').write_bytes(photos['china'].read_bytes())
    data = photos['flower'].read_bytes()
    (folder / 'b_truncated.JPEG').write_bytes(data[:len(data) // 2])

    def dataset(skip: bool):
        return DATASETS.build(dict(
            type='CustomDataset', data_root=str(tmp_path / 'data'), data_prefix='train',
            with_label=False, pipeline=[
                dict(type='LoadRandomResizedCrop', scale=32, skip_bad_images=skip),
                dict(type='PackInputs')]))

    strict = dataset(skip=False)
    bad = [i for i in range(len(strict)) if 'b_truncated' in strict.get_data_info(i)['img_path']][0]
    with pytest.raises(ImageDecodeError, match='b_truncated.JPEG.*skip_bad_images=True'):
        strict[bad]
    lenient = dataset(skip=True)
    sample = lenient[bad]  # training mode: the dataset re-fetches another index
    assert 'a_good' in sample['data_samples'].img_path
    assert lenient.pipeline.transforms[0].num_skipped >= 1
