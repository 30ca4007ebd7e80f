"""Detection / segmentation scenes composed from Fashion-MNIST, in the formats mmdet and mmseg read.

Each scene is a grayscale canvas (64x64 by default) holding 1-4 garments, each a Fashion-MNIST
image rescaled by a random factor (0.75-1.75 x 28 px), placed at a random position (garments may
overlap) and stacked in drawing order (z = 0 is the bottom). The background is a blurred texture
made from other images of the same split plus low-amplitude noise, so "foreground = nonzero
pixel" is not the answer.

Annotations come from each garment's own pixels: its *full mask* is ``resized > threshold``
(default 16 of 255), its *visible mask* that minus the full masks of the kept garments above it.
Garments are examined top-down; one whose visible area is below ``min_visible`` (default 20 px)
is **dropped: neither painted nor annotated** (so every painted garment has an annotation and no
ignore regions are needed; a scene left with no garment is drawn again). Kept garments are
painted bottom-up, opaquely, with their own intensities inside their full masks: the painted
pixels of a garment are exactly its visible mask. One per-pixel instance map (0 = background,
k = k-th kept garment from the bottom) is the source of both annotation forms, so COCO masks,
COCO boxes and the semantic maps agree pixel for pixel.

Split rule (the source split of :mod:`cmae_mm.datasets.fashion_mnist`): ``train`` scenes use only
training images outside :func:`~cmae_mm.datasets.fashion_mnist.validation_indices`, ``val``
scenes only images of that validation split, ``test`` scenes only the 10,000 test images -- for
the garments and for the background textures alike. ``annotations/sources_<split>.json`` records
which source images every scene used.

Layout (``<out>``; the images are written once and shared by both annotation forms)::

    images/{training,validation,test}/<split>_<index>.png       8-bit single-channel (mode L)
    annotations/{training,validation,test}/<split>_<index>.png  semantic map, 0 = background,
                                                                1-10 = the Fashion-MNIST classes
    annotations/instances_{train,val,test}.json                 COCO instances (RLE masks)
    annotations/sources_{train,val,test}.json                   source images of every scene
    manifest.json                                               options, seed, counts, sources

* mmdet: ``CocoDataset(data_root=<out>, ann_file='annotations/instances_train.json',
  data_prefix=dict(img='images/training/'), metainfo=SCENE_METAINFO)``; category ids 1-10 are
  the Fashion-MNIST labels 0-9 plus one, named as mmpretrain's ``FashionMNIST`` names them.
* mmseg: ``FashionMNISTScenesSegDataset(data_root=<out>, data_prefix=dict(
  img_path='images/training', seg_map_path='annotations/training'))`` -- ADE20K's folder layout,
  but with ``reduce_zero_label=False`` and 11 classes (``background`` + 10): background is a real
  class here, not ADE20K's "other" label.
* Images are single-channel PNGs: mmcv's / mmdet's ``LoadImageFromFile`` (default
  ``color_type='color'``) loads them as (H, W, 3) with the gray value repeated, as the standard
  pipelines expect; mmseg's ``LoadAnnotations`` reads the semantic PNGs as (H, W) label maps.

Everything is written into a staging folder next to ``<out>`` with the project's
:func:`~cmae_mm.engine.atomic_io.atomic_write_bytes` (temp file, fsync, rename), counted and
checked (:func:`check_scene_set`), and only then renamed to ``<out>``: an interrupted run leaves
no set that passes for a complete one. The bytes depend only on the source data, the options and
the seed (every scene has its own generator seeded from ``(seed, split, index)``).
"""
import hashlib
import io
import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from mmpretrain.datasets import FashionMNIST
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS as SEG_DATASETS
from PIL import Image, ImageFilter
from pycocotools import mask as mask_utils

from ..engine.atomic_io import atomic_write_bytes
from .fashion_mnist import (FASHION_MNIST_FILES, IMAGE_SIDE, FashionMNISTSourceError,
                            _checked_validation_indices, check_idx_file)

__all__ = ['DEFAULT_COUNTS', 'FashionMNISTScenesSegDataset', 'SCENE_CLASSES', 'SCENE_METAINFO',
           'SEG_CLASSES', 'SEG_PALETTE', 'SPLITS', 'Scene', 'SceneOptions', 'check_scene_set',
           'compose_scene', 'load_source', 'make_fashion_mnist_scenes', 'scene_pools']

PathLike = Union[str, Path]

#: The 10 Fashion-MNIST class names (mmpretrain's ``FashionMNIST``); COCO category id = label + 1.
SCENE_CLASSES: Tuple[str, ...] = tuple(FashionMNIST.METAINFO['classes'])
#: One colour per garment class (for mmdet's visualiser).
SCENE_PALETTE: List[Tuple[int, int, int]] = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]
#: ``metainfo`` for mmdet's ``CocoDataset``.
SCENE_METAINFO = dict(classes=SCENE_CLASSES, palette=SCENE_PALETTE)
#: The semantic classes: 0 = background, 1-10 = the garments (``reduce_zero_label=False``).
SEG_CLASSES: Tuple[str, ...] = ('background', ) + SCENE_CLASSES
SEG_PALETTE: List[Tuple[int, int, int]] = [(0, 0, 0)] + SCENE_PALETTE

#: COCO split name -> (ADE20K-style folder name, source idx file prefix, source part).
SPLITS: Dict[str, Tuple[str, str, str]] = {
    'train': ('training', 'train', 'training images outside the validation split'),
    'val': ('validation', 'train', 'training images of the validation split'),
    'test': ('test', 't10k', 'test images'),
}
DEFAULT_COUNTS: Dict[str, int] = {'train': 10000, 'val': 1000, 'test': 2000}
MANIFEST = 'manifest.json'
FORMAT_VERSION = 1
#: Fresh draws of a scene whose garments were all dropped, before giving up.
MAX_DRAWS = 100
#: Source images blended (each rotated by a multiple of 90 degrees) into a background texture.
TEXTURE_IMAGES = 3


@dataclass(frozen=True)
class SceneOptions:
    """How scenes are drawn.

    Attributes:
        size: Canvas side in pixels.
        min_objects: Fewest garments drawn per scene (before dropping hidden ones).
        max_objects: Most garments drawn per scene.
        min_scale: Smallest rescaling factor of a 28-px garment.
        max_scale: Largest rescaling factor.
        threshold: A resized garment's pixel belongs to its mask when its intensity is above this
            (0-254).
        min_visible: Fewest visible pixels of a kept garment; fewer: not painted, not annotated.
        background: Amplitude (gray levels) of the background texture; the noise is a twelfth.
    """
    size: int = 64
    min_objects: int = 1
    max_objects: int = 4
    min_scale: float = 0.75
    max_scale: float = 1.75
    threshold: int = 16
    min_visible: int = 20
    background: int = 48

    def check(self) -> None:
        """Raise a one-line ``ValueError`` naming the first bad option and what is allowed."""
        ints = dict(size=self.size, min_objects=self.min_objects, max_objects=self.max_objects,
                    threshold=self.threshold, min_visible=self.min_visible,
                    background=self.background)
        for name, value in ints.items():
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f'{name}={value!r}: must be an integer')
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f'min_objects={self.min_objects}, max_objects={self.max_objects}: '
                             'allowed: 1 <= min_objects <= max_objects <= 255')
        if not 0 < self.min_scale <= self.max_scale:
            raise ValueError(f'min_scale={self.min_scale}, max_scale={self.max_scale}: allowed: '
                             '0 < min_scale <= max_scale')
        if round(IMAGE_SIDE * self.min_scale) < 1:
            raise ValueError(f'min_scale={self.min_scale}: a garment would be '
                             f'{round(IMAGE_SIDE * self.min_scale)} px; allowed: >= {1 / 28:.3f}')
        largest = round(IMAGE_SIDE * self.max_scale)
        if not largest <= self.size <= 4096:
            raise ValueError(f'size={self.size}: allowed: {largest}..4096 (the largest garment, '
                             f'{IMAGE_SIDE} px x max_scale {self.max_scale}, must fit)')
        if not 0 <= self.threshold <= 254:
            raise ValueError(f'threshold={self.threshold}: allowed: 0..254')
        if not 1 <= self.min_visible <= self.size * self.size:
            raise ValueError(f'min_visible={self.min_visible}: allowed: 1..{self.size ** 2} '
                             'pixels')
        if not 0 <= self.background <= 200:
            raise ValueError(f'background={self.background}: allowed: 0..200 gray levels')


@dataclass
class Scene:
    """One composed scene.

    Attributes:
        image: (size, size) uint8 gray image.
        instances: (size, size) uint8 instance map: 0 = background, k = the k-th kept garment
            counted from the bottom (its visible pixels).
        garments: One dict per drawn garment, bottom to top: ``source_index``, ``label``,
            ``side``, ``x``, ``y`` (top-left corner), ``mask_area`` (full mask), ``visible_area``
            and ``instance`` (its value in ``instances``; 0 when dropped).
        background_sources: Source indices of the images of the background texture.
    """
    image: np.ndarray
    instances: np.ndarray
    garments: List[dict]
    background_sources: List[int]

    def semantic(self) -> np.ndarray:
        """(size, size) uint8 semantic map: 0 = background, label + 1 for a garment's pixels."""
        lut = np.zeros(256, np.uint8)
        for g in self.garments:
            if g['instance']:
                lut[g['instance']] = g['label'] + 1
        return lut[self.instances]


# ---- source ------------------------------------------------------------------------------------
def load_source(root: PathLike) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Read the extracted Fashion-MNIST idx files of ``root`` (checked with ``check_idx_file``).

    Args:
        root: The prepared folder (``tools/dataset_converters/prepare_fashion_mnist.py``).

    Returns:
        dict: ``'train'`` and ``'t10k'`` -> ((N, 28, 28) uint8 images, (N,) int64 labels).

    Raises:
        FashionMNISTSourceError: The folder or one of its idx files is missing (one line).
        ValueError: An idx file fails the structural check, or images and labels disagree.
    """
    root = Path(root)
    hint = (f'prepare it with `python tools/dataset_converters/prepare_fashion_mnist.py --out '
            f'{root}`')
    if not root.is_dir():
        raise FashionMNISTSourceError(f'{root}: Fashion-MNIST folder not found; {hint}')
    missing = [n for n in FASHION_MNIST_FILES if not (root / n).is_file()]
    if missing:
        raise FashionMNISTSourceError(f'{root}: missing {", ".join(missing)}; {hint}')
    source = {}
    for prefix in ('train', 't10k'):
        arrays = []
        for kind in ('images-idx3', 'labels-idx1'):
            name = f'{prefix}-{kind}-ubyte'
            data = (root / name).read_bytes()
            try:
                check_idx_file(data, name, md5='')
            except ValueError as e:
                raise ValueError(f'{root / name}: {e}') from None
            offset = 16 if kind.startswith('images') else 8
            arrays.append(np.frombuffer(data, np.uint8, offset=offset))
        images = arrays[0].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
        if len(images) != len(arrays[1]):
            raise ValueError(f'{root}: {len(images)} {prefix} images but {len(arrays[1])} labels')
        source[prefix] = (images, arrays[1].astype(np.int64))
    return source


def scene_pools(root: PathLike,
                source: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> Dict[str, np.ndarray]:
    """The source indices each scene split may use (the split rule).

    Args:
        root: The prepared folder (its ``val_split.json``, when present, is checked).
        source: :func:`load_source` of ``root``.

    Returns:
        dict: ``'train'`` -> (P,) sorted training indices outside the validation split,
        ``'val'`` -> those of the validation split, ``'test'`` -> all test indices.
    """
    labels = source['train'][1]
    held_out = np.zeros(len(labels), bool)
    held_out[_checked_validation_indices(Path(root), labels)] = True
    return {'train': np.flatnonzero(~held_out), 'val': np.flatnonzero(held_out),
            'test': np.arange(len(source['t10k'][1]))}


# ---- one scene ---------------------------------------------------------------------------------
def _resize(image: np.ndarray, side: int) -> np.ndarray:
    """(28, 28) uint8 -> (side, side) uint8, bilinear."""
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))


def _background(rng: np.random.Generator, images: np.ndarray, pool: np.ndarray,
                options: SceneOptions) -> Tuple[np.ndarray, List[int]]:
    """A blurred texture of ``TEXTURE_IMAGES`` pool images plus noise: (size, size) uint8."""
    size, amplitude = options.size, options.background
    chosen = rng.choice(pool, TEXTURE_IMAGES)
    texture = np.zeros((size, size), np.float32)
    for index in chosen:
        texture += np.rot90(_resize(images[index], size), int(rng.integers(4)))
    texture = Image.fromarray((texture / TEXTURE_IMAGES).astype(np.uint8))
    texture = np.asarray(texture.filter(ImageFilter.GaussianBlur(size / 16)), np.float32)
    texture *= amplitude / max(float(texture.max()), 1.0)
    noise = rng.normal(0.0, amplitude / 12, (size, size))
    canvas = np.clip(amplitude / 6 + texture + noise, 0, 255).round().astype(np.uint8)
    return canvas, [int(i) for i in chosen]


def compose_scene(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
                  pool: np.ndarray, options: SceneOptions) -> Scene:
    """Draw one scene from the images ``pool`` indexes (see the module docstring for the rules).

    Args:
        rng: The scene's generator.
        images: (N, 28, 28) uint8 source images.
        labels: (N,) source labels 0-9.
        pool: (P,) indices the scene may use.
        options: Checked options.

    Returns:
        Scene: With at least one kept garment.

    Raises:
        ValueError: No draw in :data:`MAX_DRAWS` kept a garment (the options cannot be met).
    """
    size = options.size
    for _ in range(MAX_DRAWS):
        canvas, background_sources = _background(rng, images, pool, options)
        count = int(rng.integers(options.min_objects, options.max_objects + 1))
        garments, pixels, masks = [], [], []
        for _ in range(count):
            index = int(rng.choice(pool))
            side = round(IMAGE_SIDE * float(rng.uniform(options.min_scale, options.max_scale)))
            x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
            resized = _resize(images[index], side)
            full = np.zeros((size, size), bool)
            full[y:y + side, x:x + side] = resized > options.threshold
            painted = np.zeros((size, size), np.uint8)
            painted[y:y + side, x:x + side] = resized
            garments.append(dict(source_index=index, label=int(labels[index]), side=side, x=x,
                                 y=y, mask_area=int(full.sum())))
            pixels.append(painted)
            masks.append(full)
        covered = np.zeros((size, size), bool)
        kept = [False] * count
        for k in reversed(range(count)):  # top-down: what is above k is final when k is judged
            visible = int((masks[k] & ~covered).sum())
            garments[k]['visible_area'] = visible
            if visible >= options.min_visible:
                kept[k] = True
                covered |= masks[k]
        if not any(kept):
            continue
        instances = np.zeros((size, size), np.uint8)
        number = 0
        for k in range(count):  # bottom-up painting: the top garment's pixels win
            if kept[k]:
                number += 1
                canvas[masks[k]] = pixels[k][masks[k]]
                instances[masks[k]] = number
            garments[k]['instance'] = number if kept[k] else 0
        return Scene(canvas, instances, garments, background_sources)
    raise ValueError(f'{MAX_DRAWS} draws of a scene kept no garment: min_visible='
                     f'{options.min_visible} px or threshold={options.threshold} is too high for '
                     f'these images at min_scale={options.min_scale}')


def _scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split``: independent of the other scenes."""
    return np.random.default_rng([seed, list(SPLITS).index(split), index])


def _png(array: np.ndarray) -> bytes:
    """(H, W) uint8 -> single-channel (mode L) PNG bytes (no timestamps: deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(array, mode='L').save(buffer, format='PNG')
    return buffer.getvalue()


def _coco_annotations(scene: Scene, image_id: int, first_id: int) -> List[dict]:
    """COCO annotations (RLE masks) of the kept garments of ``scene``, bottom to top."""
    annotations = []
    for g in scene.garments:
        if not g['instance']:
            continue
        mask = np.asfortranarray((scene.instances == g['instance']).astype(np.uint8))
        rle = mask_utils.encode(mask)
        annotations.append(dict(
            id=first_id + len(annotations), image_id=image_id, category_id=g['label'] + 1,
            bbox=[float(v) for v in mask_utils.toBbox(rle)], area=int(mask_utils.area(rle)),
            segmentation=dict(size=[int(s) for s in rle['size']],
                              counts=rle['counts'].decode('ascii')),
            iscrowd=0))
        g['annotation_id'] = annotations[-1]['id']
    return annotations


def _dumps(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(',', ':')) + '\n').encode()


# ---- the set -----------------------------------------------------------------------------------
def _write_split(root: Path, split: str, count: int, seed: int, options: SceneOptions,
                 images: np.ndarray, labels: np.ndarray, pool: np.ndarray,
                 source_file: str) -> Dict[str, int]:
    """Write the scenes, the COCO file and the sources record of one split under ``root``."""
    folder = SPLITS[split][0]
    coco_images, coco_annotations, records = [], [], []
    for index in range(count):
        scene = compose_scene(_scene_rng(seed, split, index), images, labels, pool, options)
        name = f'{split}_{index:06d}.png'
        atomic_write_bytes(_png(scene.image), root / 'images' / folder / name)
        atomic_write_bytes(_png(scene.semantic()), root / 'annotations' / folder / name)
        image_id = index + 1
        coco_images.append(dict(id=image_id, file_name=name, width=options.size,
                                height=options.size, license=1))
        coco_annotations += _coco_annotations(scene, image_id, len(coco_annotations) + 1)
        records.append(dict(file_name=name, image_id=image_id,
                            background_sources=scene.background_sources,
                            garments=[{'z': z, 'annotation_id': None, **g}
                                      for z, g in enumerate(scene.garments)]))
    used = sorted({i for r in records for i in r['background_sources']}
                  | {g['source_index'] for r in records for g in r['garments']})
    coco = dict(
        info=dict(description=f'Fashion-MNIST scenes, {split} split: garments of Fashion-MNIST '
                  f'{SPLITS[split][2]} composed on {options.size}x{options.size} canvases '
                  '(cmae_mm.datasets.fashion_mnist_scenes)',
                  url='https://github.com/zalandoresearch/fashion-mnist', version='1.0',
                  year=2017, contributor='Zalando Research (Fashion-MNIST); scenes: cmae_mm'),
        licenses=[dict(id=1, name='MIT License', url='https://opensource.org/licenses/MIT')],
        images=coco_images, annotations=coco_annotations,
        categories=[dict(id=k + 1, name=n, supercategory='garment')
                    for k, n in enumerate(SCENE_CLASSES)])
    atomic_write_bytes(_dumps(coco), root / 'annotations' / f'instances_{split}.json')
    sources = dict(split=split, source_file=f'{source_file}-images-idx3-ubyte',
                   pool=SPLITS[split][2], pool_size=int(len(pool)), source_indices=used,
                   scenes=records)
    atomic_write_bytes(_dumps(sources), root / 'annotations' / f'sources_{split}.json')
    drawn = sum(len(r['garments']) for r in records)
    return dict(scenes=count, instances=len(coco_annotations),
                dropped=drawn - len(coco_annotations))


def check_scene_set(root: PathLike, counts: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Check a written set: every split's images, semantic maps, COCO file and sources record.

    Args:
        root: The set's folder.
        counts: Expected scenes per split; None: those of ``root/manifest.json``.

    Returns:
        dict: Split -> number of COCO instances.

    Raises:
        ValueError: Naming the first file or count that does not check out.
    """
    root = Path(root)
    if counts is None:
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise ValueError(f'{manifest}: missing (not a complete scene set)')
        counts = json.loads(manifest.read_text())['counts']
    instances = {}
    for split, count in counts.items():
        folder = SPLITS[split][0]
        names = [f'{split}_{i:06d}.png' for i in range(count)]
        for kind in ('images', 'annotations'):
            found = sorted(p.name for p in (root / kind / folder).glob('*.png'))
            if found != names:
                raise ValueError(f'{root / kind / folder}: {len(found)} PNG files, expected '
                                 f'{count} ({names[0]} .. {names[-1]})')
        coco_file = root / 'annotations' / f'instances_{split}.json'
        sources_file = root / 'annotations' / f'sources_{split}.json'
        for path in (coco_file, sources_file):
            if not path.is_file():
                raise ValueError(f'{path}: missing')
        coco = json.loads(coco_file.read_text())
        sources = json.loads(sources_file.read_text())
        if [im['file_name'] for im in coco['images']] != names:
            raise ValueError(f'{coco_file}: {len(coco["images"])} images, expected {count} '
                             'named as the PNG files')
        kept = sum(1 for s in sources['scenes'] for g in s['garments'] if g['instance'])
        if len(coco['annotations']) != kept or len(sources['scenes']) != count:
            raise ValueError(f'{coco_file}: {len(coco["annotations"])} annotations, '
                             f'{sources_file.name} records {kept} kept garments in '
                             f'{len(sources["scenes"])} scenes (expected {count})')
        if len(coco['categories']) != len(SCENE_CLASSES):
            raise ValueError(f'{coco_file}: {len(coco["categories"])} categories, expected 10')
        instances[split] = kept
    return instances


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _check_counts(counts: Dict[str, int]) -> None:
    if set(counts) != set(SPLITS):
        raise ValueError(f'counts for {sorted(counts)}: allowed: exactly {list(SPLITS)}')
    for split, count in counts.items():
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or \
                not 1 <= count <= 999999:
            raise ValueError(f'num_{split}={count!r}: allowed: an integer 1..999999')


def make_fashion_mnist_scenes(fashion_mnist_root: PathLike = 'data/fashion_mnist',
                              out: PathLike = 'data/fashion_mnist_scenes',
                              counts: Optional[Dict[str, int]] = None, seed: int = 0,
                              options: Optional[SceneOptions] = None, force: bool = False,
                              log: Callable[[str], None] = print) -> str:
    """Write the scene set (see the module docstring), or keep an identical complete one.

    Args:
        fashion_mnist_root: The prepared Fashion-MNIST folder (extracted idx files).
        out: Output folder.
        counts: Scenes per split (``train``, ``val``, ``test``); None: :data:`DEFAULT_COUNTS`.
        seed: Seed of every draw.
        options: How scenes are drawn; None: :class:`SceneOptions` defaults.
        force: Replace an existing ``out`` made with other options, seed or source.
        log: Progress output (one line per split).

    Returns:
        str: What was done.

    Raises:
        FashionMNISTSourceError: ``fashion_mnist_root`` or one of its files is missing.
        FileExistsError: ``out`` exists and differs, and ``force`` is False.
        ValueError: A bad option or count (naming it and what is allowed), or a failed check.
    """
    start = time.monotonic()
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    _check_counts(counts)
    options = options or SceneOptions()
    options.check()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f'seed={seed!r}: allowed: a non-negative integer')
    root, out = Path(fashion_mnist_root), Path(out)
    source = load_source(root)
    pools = scene_pools(root, source)
    manifest = dict(
        format_version=FORMAT_VERSION, generator='cmae_mm.datasets.fashion_mnist_scenes',
        seed=int(seed), counts=counts, options=asdict(options), classes=list(SEG_CLASSES),
        reduce_zero_label=False, min_visible_rule='dropped: not painted, not annotated',
        source=dict(md5={n: _md5(root / n) for n in FASHION_MNIST_FILES},
                    pool_sizes={s: int(len(p)) for s, p in pools.items()}))
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'{out}: exists and is not a folder')
    if out.is_dir() and any(out.iterdir()):
        try:
            same = json.loads((out / MANIFEST).read_text()) == json.loads(_dumps(manifest))
            if same:
                check_scene_set(out, counts)
                return f'fashion_mnist_scenes: kept the complete, identical set in {out}'
        except (OSError, ValueError, KeyError):
            pass
        if not force:
            raise FileExistsError(f'{out}: exists and is not this set (other options, seed or '
                                  'source, or incomplete); pass --force (force=True) to replace '
                                  'it')
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f'.{out.name}.{uuid.uuid4().hex[:8]}.partial'
    staging.mkdir()
    try:
        stats = {}
        for split, count in counts.items():
            images, labels = source[SPLITS[split][1]]
            stats[split] = _write_split(staging, split, count, seed, options, images, labels,
                                        pools[split], SPLITS[split][1])
            log(f'{split}: {count} scenes, {stats[split]["instances"]} instances '
                f'({stats[split]["dropped"]} hidden garments dropped), '
                f'{time.monotonic() - start:.0f} s')
        atomic_write_bytes(_dumps(manifest), staging / MANIFEST)
        check_scene_set(staging, counts)
        if out.exists():
            old = out.parent / f'.{out.name}.{uuid.uuid4().hex[:8]}.old'
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    total = sum(counts.values())
    return (f'fashion_mnist_scenes: wrote {total} scenes (' +
            ', '.join(f'{s} {c}' for s, c in counts.items()) +
            f'; {sum(s["instances"] for s in stats.values())} instances) to {out} in '
            f'{time.monotonic() - start:.1f} s')


# ---- mmseg -------------------------------------------------------------------------------------
@SEG_DATASETS.register_module()
class FashionMNISTScenesSegDataset(BaseSegDataset):
    """mmseg dataset of the scenes' semantic maps (ADE20K folder layout, 11 classes).

    Background (0) is a class of its own, so ``reduce_zero_label`` is False (ADE20K's True would
    turn background into the ignore index and shift the garments). Images and maps are ``.png``.

    Args:
        img_suffix (str): Defaults to ``'.png'``.
        seg_map_suffix (str): Defaults to ``'.png'``.
        reduce_zero_label (bool): Must be False.
        **kwargs: Arguments of mmseg's ``BaseSegDataset`` (``data_root``, ``data_prefix``,
            ``pipeline``, ...).
    """
    METAINFO = dict(classes=SEG_CLASSES, palette=SEG_PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError(f'reduce_zero_label={reduce_zero_label!r}: allowed: False (label 0 '
                             'is the background class of the scenes)')
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)
