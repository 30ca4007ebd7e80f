"""StanfordDogs and TinyImageNet read tiny copies of their official on-disk layouts.

The Stanford Dogs lists are real MATLAB files written with ``scipy.io.savemat`` in the official
structure (N x 1 cell arrays of strings, N x 1 double labels); images are real photographs (JPEG).
"""
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from mmpretrain.registry import DATASETS
from scipy.io import loadmat, savemat

import cmae_mm.components  # noqa: F401  (registers the datasets)
from cmae_mm.datasets import StanfordDogs, TinyImageNet
from cmae_mm.datasets.tiny_imagenet import class_names
from helpers import (DOG_FOLDERS, DOG_LISTS, TINY_VAL, TINY_WNIDS, cell, photos, save_list,
                     write_stanford_dogs, write_tiny_imagenet, write_val_annotations)

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]

@pytest.fixture
def dogs_root(tmp_path: Path) -> Path:
    return write_stanford_dogs(tmp_path)


def build_dogs(root: Path, split: str = 'train', **kwargs) -> StanfordDogs:
    return DATASETS.build(dict(type='StanfordDogs', data_root=str(root), split=split, num_classes=3,
                               pipeline=PIPELINE, **kwargs))


def test_list_file_mirrors_official_structure(dogs_root: Path):
    mat = loadmat(str(dogs_root / 'lists' / 'train_list.mat'))
    assert mat['file_list'].shape == (4, 1) and mat['file_list'].dtype == object
    assert mat['file_list'][0, 0][0] == 'n02085620-Chihuahua/n02085620_10074.jpg'
    assert mat['labels'].shape == (4, 1) and mat['labels'].dtype == np.float64


@pytest.mark.parametrize('split', ['train', 'test'])
def test_stanford_dogs_items(dogs_root: Path, split: str):
    ds = build_dogs(dogs_root, split)
    assert len(ds) == len(DOG_LISTS[split])
    assert ds.metainfo['classes'] == ('Chihuahua', 'Japanese_spaniel', 'Maltese_dog')
    assert ds.metainfo['folders'] == DOG_FOLDERS
    assert ds.test_mode == (split == 'test')
    for i, (rel, label) in enumerate(DOG_LISTS[split]):
        info = ds.get_data_info(i)
        assert info['img_path'] == str(dogs_root / 'Images' / rel) and info['gt_label'] == label - 1
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert item['data_samples'].gt_label.tolist() == [DOG_LISTS[split][0][1] - 1]


def test_stanford_dogs_expects_120_folders(dogs_root: Path):
    with pytest.raises(ValueError, match='has 3 breed folders, expected num_classes=120'):
        DATASETS.build(dict(type='StanfordDogs', data_root=str(dogs_root), split='train'))


def test_stanford_dogs_bad_split(dogs_root: Path):
    with pytest.raises(ValueError, match=r"one of \('train', 'test'\), got 'val'"):
        build_dogs(dogs_root, 'val')


def test_stanford_dogs_missing_list_file(dogs_root: Path):
    (dogs_root / 'lists' / 'test_list.mat').unlink()
    with pytest.raises(FileNotFoundError, match='test_list.mat'):
        build_dogs(dogs_root, 'test')


def test_stanford_dogs_list_without_labels(dogs_root: Path):
    save_list(dogs_root / 'lists' / 'train_list.mat', DOG_LISTS['train'], drop='labels')
    with pytest.raises(ValueError, match=r"train_list.mat lacks the field\(s\) \['labels'\]"):
        build_dogs(dogs_root)


def test_stanford_dogs_not_a_mat_file(dogs_root: Path):
    (dogs_root / 'lists' / 'train_list.mat').write_text('not a MATLAB file\n')
    with pytest.raises(ValueError, match='Cannot read .*train_list.mat as a MATLAB file'):
        build_dogs(dogs_root)


@pytest.mark.parametrize('label', [0, 4, 1.5])
def test_stanford_dogs_label_out_of_range(dogs_root: Path, label: float):
    entries = DOG_LISTS['train'][:1] + [(DOG_LISTS['train'][1][0], label)]
    save_list(dogs_root / 'lists' / 'train_list.mat', entries)
    with pytest.raises(ValueError, match=r'train_list.mat: labels\[1\] = .* not an integer in 1..3'):
        build_dogs(dogs_root)


def test_stanford_dogs_label_inconsistent_with_folder(dogs_root: Path):
    save_list(dogs_root / 'lists' / 'train_list.mat', [('n02085620-Chihuahua/n02085620_10074.jpg', 2)])
    with pytest.raises(ValueError, match="label 2, whose folder is 'n02085782-Japanese_spaniel'"):
        build_dogs(dogs_root)


def test_stanford_dogs_missing_image(dogs_root: Path):
    (dogs_root / 'Images' / DOG_LISTS['test'][1][0]).unlink()
    with pytest.raises(FileNotFoundError, match='n02085782_17.jpg'):
        build_dogs(dogs_root, 'test')


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    return write_tiny_imagenet(tmp_path)


def build_tiny(root: Path, split: str = 'train', **kwargs) -> TinyImageNet:
    return DATASETS.build(dict(type='TinyImageNet', data_root=str(root), split=split, pipeline=PIPELINE,
                               **kwargs))


def test_tiny_imagenet_train(tiny_root: Path):
    ds = build_tiny(tiny_root, 'train')
    assert ds.metainfo['classes'] == ('goldfish', 'European fire salamander')
    assert ds.metainfo['wnids'] == TINY_WNIDS
    assert [ds.get_data_info(i)['gt_label'] for i in range(len(ds))] == [0, 0, 1, 1]
    assert ds.get_data_info(2)['img_path'] == str(tiny_root / 'train/n01629819/images/n01629819_0.JPEG')
    item = ds[3]
    assert tuple(item['inputs'].shape) == (3, 32, 32) and item['data_samples'].gt_label.tolist() == [1]


def test_tiny_imagenet_val(tiny_root: Path):
    ds = build_tiny(tiny_root, 'val')
    assert ds.test_mode and len(ds) == 3
    labels = {0: 1, 1: 0, 2: 1}
    for i, (name, _) in enumerate(TINY_VAL):
        info = ds.get_data_info(i)
        assert info['img_path'] == str(tiny_root / 'val' / 'images' / name)
        assert info['gt_label'] == labels[i]
    assert ds[1]['data_samples'].gt_label.tolist() == [0]


def test_tiny_imagenet_without_words_uses_wnids(tiny_root: Path):
    (tiny_root / 'words.txt').unlink()
    assert build_tiny(tiny_root, 'val').metainfo['classes'] == TINY_WNIDS


def test_tiny_imagenet_class_names_stay_unique():
    words: Dict[str, str] = {'n1': 'crane', 'n2': 'crane', 'n3': 'goldfish'}
    assert class_names(['n1', 'n2', 'n3', 'n4'], words) == ['crane (n1)', 'crane (n2)', 'goldfish', 'n4']


def test_tiny_imagenet_malformed_annotation_line(tiny_root: Path):
    write_val_annotations(tiny_root, ['val_0.JPEG\tn01629819\t0\t5\t60\t62',
                                      'val_1.JPEG n01443537 0 5 60 62'])
    with pytest.raises(ValueError, match=r'val_annotations.txt:2: expected 6 tab-separated fields'):
        build_tiny(tiny_root, 'val')


def test_tiny_imagenet_non_integer_box(tiny_root: Path):
    write_val_annotations(tiny_root, ['val_0.JPEG\tn01629819\t0\tfive\t60\t62'])
    with pytest.raises(ValueError, match=r'val_annotations.txt:1: box coordinates must be integers'):
        build_tiny(tiny_root, 'val')


def test_tiny_imagenet_unknown_wnid(tiny_root: Path):
    write_val_annotations(tiny_root, ['val_0.JPEG\tn01629819\t0\t5\t60\t62', '',
                                      'val_1.JPEG\tn09999999\t0\t5\t60\t62'])
    message = r"val_annotations.txt:3: unknown wnid 'n09999999' \(not in .*wnids.txt\)"
    with pytest.raises(ValueError, match=message):
        build_tiny(tiny_root, 'val')


def test_tiny_imagenet_missing_val_image(tiny_root: Path):
    (tiny_root / 'val' / 'images' / 'val_2.JPEG').unlink()
    with pytest.raises(FileNotFoundError, match='val_2.JPEG'):
        build_tiny(tiny_root, 'val')


def test_tiny_imagenet_train_folder_not_in_wnids(tiny_root: Path):
    (tiny_root / 'wnids.txt').write_text(TINY_WNIDS[0] + '\n')
    with pytest.raises(ValueError, match=r"\['n01629819'\] that .*wnids.txt does not list"):
        build_tiny(tiny_root, 'train')


def test_tiny_imagenet_malformed_wnids(tiny_root: Path):
    (tiny_root / 'wnids.txt').write_text('n01443537\ngoldfish\n')
    with pytest.raises(ValueError, match=r"wnids.txt:2: expected a wnid like n01443537, got 'goldfish'"):
        build_tiny(tiny_root, 'train')


def test_tiny_imagenet_bad_split(tiny_root: Path):
    with pytest.raises(ValueError, match=r"one of \('train', 'val'\), got 'test'"):
        build_tiny(tiny_root, 'test')
