"""Pre-training on your own unlabelled images: the three ``*_own-images.py`` configs.

* Each config is its family's pre-training config (the same recipe base and shot schedule) with
  only the dataset replaced by ``UnlabeledImageFolder`` (mmpretrain's ``CustomDataset``,
  ``with_label=False``) on ``data/my_images``, same pipeline.
* The dataset reads PNG and JPEG files in nested folders (any case of the extension), skips other
  files, and refuses a folder without images.
* ``tools/train.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py``
  pre-trains the CPU-sized ViT for three iterations on such a folder, as a user runs it
  (``--cfg-options``): a checkpoint is written and every logged loss is finite. An empty or
  missing folder ends it with one line naming the folder. (The SimMIM and FCMAE configs run one Runner iteration each on a folder of images in
  test_configs_hierarchical.py; every config builds and trains a step in test_configs_selfsup.py
  or there.)
"""
import json
import math
from pathlib import Path

import pytest
from mmengine.config import Config

import cmae_mm.components  # noqa: F401
from helpers import (REPO, config_bases, inheritance_depth, load_runner_checkpoint, output_of,
                     run_tool, run_tool_in_process, tiny_vit_cfg_options, write_own_images)

SEL = 'configs/selfsup'
OWN = {  # own-images config -> the pre-training config it inherits
    f'{SEL}/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py':
        f'{SEL}/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
    f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_own-images-192px.py':
        f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
    f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_own-images.py':
        f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py',
}
VIT = f'{SEL}/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py'


@pytest.mark.parametrize('own', list(OWN), ids=lambda p: Path(p).name)
def test_own_images_config_replaces_only_the_dataset(own):
    mine = Config.fromfile(str(REPO / own)).to_dict()
    parent = Config.fromfile(str(REPO / OWN[own])).to_dict()
    dataset = mine['train_dataloader'].pop('dataset')
    parent_dataset = parent['train_dataloader'].pop('dataset')
    assert dataset == dict(type='UnlabeledImageFolder', data_root='data/my_images',
                           pipeline=parent_dataset['pipeline'])
    assert mine.pop('data_root') == 'data/my_images'
    parent.pop('data_root')
    assert mine == parent
    # a sibling of its family config on the same recipe base: at most 3 levels of _base_ above the
    # file (own -> recipe base -> its bases -> theirs)
    assert config_bases(REPO / own) == config_bases(REPO / OWN[own])
    assert inheritance_depth(REPO / own) <= 3


def test_unlabeled_image_folder_reads_every_image_under_nested_folders(tmp_path):
    from mmpretrain.registry import DATASETS

    images = write_own_images(tmp_path / 'mine')
    dataset = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path / 'mine')))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert sorted(Path(info['img_path']) for info in infos) == images  # .PNG and .JPG included
    assert len(images) == 6 and not any('gt_label' in info for info in infos)
    assert {p.suffix for p in images} == {'.jpg', '.PNG', '.png', '.jpeg', '.JPG'}


@pytest.mark.parametrize('case', ['empty', 'missing'])
def test_unlabeled_image_folder_refuses_a_folder_without_images(case, tmp_path):
    from mmpretrain.registry import DATASETS

    folder = tmp_path / 'mine'
    if case == 'empty':
        (folder / 'album').mkdir(parents=True)
        (folder / 'album' / 'notes.txt').write_text('no images here\n')
    message = 'holds no image file' if case == 'empty' else 'does not exist'
    with pytest.raises(FileNotFoundError, match=f'image folder {folder} {message}'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(folder)))
    with pytest.raises(ValueError, match='without labels'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(folder), with_label=True))


def train_options(folder: Path, epochs: int = 1) -> list:
    """``--cfg-options`` of a CPU-sized run on ``folder``: the tiny ViT, batch 2, no workers."""
    return ['--cfg-options', *tiny_vit_cfg_options(),
            f'train_dataloader.dataset.data_root={folder}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', f'train_cfg.max_epochs={epochs}',
            'default_hooks.logger.interval=1']


def test_pretrain_on_own_images_from_the_command_line(tmp_path):
    images = write_own_images(tmp_path / 'my_images')
    work = tmp_path / 'work'
    result = run_tool(['tools/train.py', VIT, '--work-dir', work,
                       *train_options(tmp_path / 'my_images')], cwd=REPO)
    assert result.returncode == 0, output_of(result)[-4000:]
    assert (work / 'epoch_1.pth').is_file()
    ckpt = load_runner_checkpoint(work / 'epoch_1.pth')
    assert ckpt['meta']['iter'] == len(images) // 2 == 3
    assert ckpt['state_dict']['backbone.pos_embed'].shape[1] == 1 + 64  # the tiny 64-patch ViT
    (scalars, ) = work.glob('*/vis_data/scalars.json')
    steps = [json.loads(line) for line in scalars.read_text().splitlines()]
    assert [s['step'] for s in steps] == [1, 2, 3]
    assert all(math.isfinite(s['loss']) and s['loss'] > 0 for s in steps)
    assert all('rec_err_shot2' in s for s in steps)


@pytest.mark.parametrize('case', ['empty', 'missing'])
def test_train_refuses_an_image_folder_without_images_in_one_line(case, tmp_path):
    folder = tmp_path / 'my_images'
    if case == 'empty':  # sub-folders and a text file, but no image
        (folder / 'album' / '2024').mkdir(parents=True)
        (folder / 'album' / 'notes.txt').write_text('no images here\n')
    work = tmp_path / 'work'
    result = run_tool_in_process(['tools/train.py', VIT, '--work-dir', work, *train_options(folder)],
                                 cwd=REPO)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith('tools/train.py: error: '), output_of(result)[-4000:]
    assert str(folder) in lines[-1] and 'Traceback' not in result.stderr, result.stderr[-4000:]
    assert [line for line in lines if str(folder) in line] == [lines[-1]]  # named once, in one line
    assert ('holds no image file' if case == 'empty' else 'does not exist') in lines[-1]
    assert not list(work.glob('*.pth'))
