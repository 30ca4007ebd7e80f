"""Fashion-MNIST scenes: composed detection / segmentation sets in the formats mmdet and mmseg read.

Tiny sets (6 / 3 / 3 scenes) are written from tiny fake idx files (blobs whose size is the class),
so the real data is never needed: masks, boxes and semantic maps agree pixel for pixel; the same
seed gives the same bytes; the source split is respected; pycocotools, mmdet's ``CocoDataset`` and
the suite's mmseg dataset read the result; the tool runs as a user runs it.
"""
import json
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from PIL import Image

from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError, validation_indices
from cmae_mm.datasets.fashion_mnist_scenes import (SCENE_CLASSES, SCENE_METAINFO, SEG_CLASSES,
                                                   FashionMNISTScenesSegDataset, SceneOptions,
                                                   check_scene_set, make_fashion_mnist_scenes)
from helpers import output_of, run_tool

COUNTS = {'train': 6, 'val': 3, 'test': 3}
TOOL = 'tools/dataset_converters/make_fashion_mnist_scenes.py'
FOLDERS = {'train': 'training', 'val': 'validation', 'test': 'test'}


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte idx file (the MNIST format) holding ``array``."""
    header = (0x800 + array.ndim).to_bytes(4, 'big')
    header += b''.join(int(d).to_bytes(4, 'big') for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fake_fmnist(folder: Path, train_per_class: int = 6, test_per_class: int = 2) -> Path:
    """The four extracted idx files: 28x28 textured ellipses (radius grows with the class) on 0."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:28, :28]
    for prefix, per_class in (('train', train_per_class), ('t10k', test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        images = np.zeros((len(labels), 28, 28), np.uint8)
        for k, c in enumerate(labels):
            ry, rx = 6 + c * 0.7 + rng.uniform(0, 2), 5 + rng.uniform(0, 7)
            inside = ((yy - 13.5) / ry) ** 2 + ((xx - 13.5) / rx) ** 2 <= 1
            images[k][inside] = rng.integers(60, 256, int(inside.sum()))
        (folder / f'{prefix}-images-idx3-ubyte').write_bytes(idx_bytes(images))
        (folder / f'{prefix}-labels-idx1-ubyte').write_bytes(idx_bytes(labels))
    return folder


@pytest.fixture(scope='module')
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_fmnist(tmp_path_factory.mktemp('src') / 'fashion_mnist')


@pytest.fixture(scope='module')
def scenes(fake_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('scenes') / 'fashion_mnist_scenes'
    make_fashion_mnist_scenes(fake_root, out, COUNTS, seed=0, log=lambda _: None)
    return out


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def test_masks_boxes_and_semantic_maps_agree_pixel_for_pixel(scenes):
    from pycocotools import mask as mask_utils

    threshold, overlapping = SceneOptions().threshold, 0
    for split, folder in FOLDERS.items():
        coco = load_json(scenes / 'annotations' / f'instances_{split}.json')
        assert [c['id'] for c in coco['categories']] == list(range(1, 11))
        assert [c['name'] for c in coco['categories']] == list(SCENE_CLASSES)
        for image in coco['images']:
            pixels = np.asarray(Image.open(scenes / 'images' / folder / image['file_name']))
            semantic = np.asarray(Image.open(scenes / 'annotations' / folder / image['file_name']))
            assert pixels.shape == semantic.shape == (64, 64) and semantic.dtype == np.uint8
            painted = np.zeros((64, 64), np.uint8)
            anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
            assert anns
            for ann in anns:
                mask = mask_utils.decode(ann['segmentation']).astype(bool)
                rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                assert ann['bbox'] == [cols[0], rows[0], cols[-1] - cols[0] + 1,
                                       rows[-1] - rows[0] + 1]
                assert ann['area'] == mask.sum() >= SceneOptions().min_visible
                assert ann['iscrowd'] == 0
                assert not painted[mask].any()  # visible masks are disjoint
                painted[mask] = ann['category_id']
                assert (pixels[mask] > threshold).all()  # a garment's own, opaque pixels
            np.testing.assert_array_equal(semantic, painted)
            background = pixels[semantic == 0]
            assert (background > 0).mean() > 0.9  # not "foreground = nonzero pixel"
            overlapping += len(anns) > 1
    assert overlapping  # some scene holds several garments


def test_same_seed_same_bytes_other_seed_other_scenes(fake_root, scenes, tmp_path):
    again, other = tmp_path / 'again', tmp_path / 'other'
    make_fashion_mnist_scenes(fake_root, again, COUNTS, seed=0, log=lambda _: None)
    make_fashion_mnist_scenes(fake_root, other, COUNTS, seed=1, log=lambda _: None)
    first = tree_bytes(scenes)
    assert tree_bytes(again) == first
    second = tree_bytes(other)
    assert second.keys() == first.keys()
    changed = [k for k in first if k.startswith('images/') and first[k] != second[k]]
    assert len(changed) == sum(COUNTS.values())
    # A re-run with the same arguments keeps the set; other arguments need force=True.
    assert 'kept' in make_fashion_mnist_scenes(fake_root, again, COUNTS, seed=0,
                                               log=lambda _: None)
    with pytest.raises(FileExistsError, match='--force'):
        make_fashion_mnist_scenes(fake_root, again, COUNTS, seed=1, log=lambda _: None)
    make_fashion_mnist_scenes(fake_root, again, COUNTS, seed=1, force=True, log=lambda _: None)
    assert tree_bytes(again) == second
    assert not list(tmp_path.glob('.*'))  # no staging or old folder left behind


def test_splits_use_only_their_source_images(fake_root, scenes):
    train_labels = np.frombuffer((fake_root / 'train-labels-idx1-ubyte').read_bytes(), np.uint8,
                                 offset=8)
    held_out = set(validation_indices(train_labels.astype(np.int64)).tolist())
    used = {}
    for split in COUNTS:
        record = load_json(scenes / 'annotations' / f'sources_{split}.json')
        coco = load_json(scenes / 'annotations' / f'instances_{split}.json')
        category = {a['id']: a['category_id'] for a in coco['annotations']}
        assert len(record['scenes']) == COUNTS[split]
        garments = [g for s in record['scenes'] for g in s['garments']]
        indices = {g['source_index'] for g in garments} | \
            {i for s in record['scenes'] for i in s['background_sources']}
        assert sorted(indices) == record['source_indices']
        used[split] = indices
        for g in garments:  # every kept garment is one annotation of its own class
            assert (g['annotation_id'] is None) == (g['instance'] == 0)
            if g['instance']:
                assert category.pop(g['annotation_id']) == g['label'] + 1
        assert not category
    assert load_json(scenes / 'annotations' / 'sources_test.json')['source_file'] == \
        't10k-images-idx3-ubyte'
    assert used['train'].isdisjoint(used['val'])
    assert used['train'].isdisjoint(held_out) and used['val'] <= held_out
    assert used['test'] <= set(range(20))


def test_pycocotools_reads_the_files_and_scores_the_ground_truth_as_perfect(scenes):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(scenes / 'annotations' / 'instances_val.json'))
    assert len(gt.getImgIds()) == 3 and len(gt.getCatIds()) == 10
    results = [dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                    segmentation=a['segmentation'], score=0.9) for a in gt.dataset['annotations']]
    for iou_type in ('bbox', 'segm'):
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)


def test_mmdet_coco_dataset_and_pipeline(scenes):
    from mmdet.datasets import CocoDataset
    from mmengine.registry import DefaultScope

    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='PackDetInputs')]
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(data_root=str(scenes), ann_file='annotations/instances_train.json',
                              data_prefix=dict(img='images/training/'), metainfo=SCENE_METAINFO,
                              pipeline=pipeline)
        sample = dataset[0]
    coco = load_json(scenes / 'annotations' / 'instances_train.json')
    anns = [a for a in coco['annotations'] if a['image_id'] == 1]
    assert len(dataset) == COUNTS['train'] and dataset.metainfo['classes'] == SCENE_CLASSES
    assert tuple(sample['inputs'].shape) == (3, 64, 64)  # gray PNG -> 3 equal channels
    assert (sample['inputs'][0] == sample['inputs'][1]).all()
    instances = sample['data_samples'].gt_instances
    assert instances.labels.tolist() == [a['category_id'] - 1 for a in anns]
    np.testing.assert_allclose(instances.bboxes.tensor.numpy(),
                               [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)])
    semantic = np.asarray(Image.open(scenes / 'annotations' / 'training' / 'train_000000.png'))
    masks = instances.masks.to_ndarray()
    np.testing.assert_array_equal((masks * (instances.labels.numpy() + 1)[:, None, None]).sum(0),
                                  semantic)


def test_mmseg_dataset_and_pipeline(scenes):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    assert DATASETS.get('FashionMNISTScenesSegDataset') is FashionMNISTScenesSegDataset
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(dict(
            type='FashionMNISTScenesSegDataset', data_root=str(scenes), pipeline=pipeline,
            data_prefix=dict(img_path='images/test', seg_map_path='annotations/test')))
        sample = dataset[2]
    assert len(dataset) == COUNTS['test'] and dataset.metainfo['classes'] == SEG_CLASSES
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    semantic = np.asarray(Image.open(scenes / 'annotations' / 'test' / 'test_000002.png'))
    np.testing.assert_array_equal(sample['data_samples'].gt_sem_seg.data[0].numpy(), semantic)
    with pytest.raises(ValueError, match='reduce_zero_label=True: allowed: False'):
        FashionMNISTScenesSegDataset(data_root=str(scenes), reduce_zero_label=True)


def test_bad_options_and_incomplete_sets_fail_in_one_line(fake_root, scenes, tmp_path):
    with pytest.raises(ValueError, match=r'size=40: allowed: 49\.\.4096'):
        make_fashion_mnist_scenes(fake_root, tmp_path / 'o', COUNTS, options=SceneOptions(size=40))
    with pytest.raises(ValueError, match=r'num_val=0: allowed'):
        make_fashion_mnist_scenes(fake_root, tmp_path / 'o', dict(COUNTS, val=0))
    with pytest.raises(FashionMNISTSourceError, match='missing t10k-labels-idx1-ubyte'):
        partial = tmp_path / 'partial'
        partial.mkdir()
        for p in fake_root.iterdir():
            if p.name != 't10k-labels-idx1-ubyte':
                (partial / p.name).write_bytes(p.read_bytes())
        make_fashion_mnist_scenes(partial, tmp_path / 'o', COUNTS)
    assert not (tmp_path / 'o').exists()
    assert check_scene_set(scenes) == check_scene_set(scenes, COUNTS)
    broken = tmp_path / 'broken'
    make_fashion_mnist_scenes(fake_root, broken, COUNTS, log=lambda _: None)
    (broken / 'images' / 'validation' / 'val_000001.png').unlink()
    with pytest.raises(ValueError, match='validation: 2 PNG files, expected 3'):
        check_scene_set(broken)


def test_tool_writes_the_set_and_refuses_a_missing_source_in_one_line(fake_root, tmp_path):
    out = tmp_path / 'out'
    args = [TOOL, '--fashion-mnist-root', fake_root, '--out', out, '--num-train', 6,
            '--num-val', 3, '--num-test', 3, '--seed', 3, '--max-objects', 3]
    result = run_tool(args, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert 'wrote 12 scenes (train 6, val 3, test 3;' in result.stdout
    assert check_scene_set(out) == check_scene_set(out, COUNTS)
    manifest = load_json(out / 'manifest.json')
    assert manifest['seed'] == 3 and manifest['options']['max_objects'] == 3
    missing = tmp_path / 'no_fmnist'
    result = run_tool([TOOL, '--fashion-mnist-root', missing, '--out', tmp_path / 'o2'],
                      cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.count('\n') == 1 and str(missing) in result.stderr
    assert 'Fashion-MNIST folder not found' in result.stderr
    assert not (tmp_path / 'o2').exists()
