"""Shared fixtures: tiny datasets of real photographs and real pre-training checkpoints (tests/helpers.py)."""
from pathlib import Path

import pytest

from helpers import REPO, shrink_pretrain_cfg, write_imagenet_annfile_layout, write_imagenet_folder

# Pre-training config per encoder depth, for the checkpoints the downstream configs load.
PRETRAIN = {12: 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
            24: 'configs/selfsup/cmae/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py'}


@pytest.fixture
def imagenet_folder(tmp_path: Path) -> Path:
    """A fresh ``<tmp>/imagenet/{train,val}/<wnid>/*.JPEG`` dataset (2 classes, 4 + 2 images each)."""
    return write_imagenet_folder(tmp_path / 'imagenet')


@pytest.fixture(scope='session')
def shared_imagenet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same dataset written once per session; treat it as read-only."""
    return write_imagenet_folder(tmp_path_factory.mktemp('data') / 'imagenet')


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four photographs in ImageNet's ann-file layout (train and val)."""
    return write_imagenet_annfile_layout(tmp_path_factory.mktemp('imagenet'), num_images=4)


@pytest.fixture(scope='session')
def pretrained(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> dict:
    """Encoder depth -> a checkpoint written by a real (shrunk: 32-d tokens, 8x8 patches of a 64x64
    input, see ``shrink_pretrain_cfg``) Conditional MAE pre-training run of one epoch."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    ckpts = {}
    for depth, config in PRETRAIN.items():
        work = tmp_path_factory.mktemp(f'pretrain{depth}')
        cfg = shrink_pretrain_cfg(Config.fromfile(str(REPO / config)), tiny_data, work, batch_size=4)
        Runner.from_cfg(cfg).train()
        ckpts[depth] = work / 'epoch_1.pth'
    return ckpts
