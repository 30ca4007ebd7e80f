"""Shared fixtures: tiny ImageNet-style folder datasets of real photographs (see tests/helpers.py)."""
from pathlib import Path

import pytest

from helpers import write_imagenet_folder


@pytest.fixture
def imagenet_folder(tmp_path: Path) -> Path:
    """A fresh ``<tmp>/imagenet/{train,val}/<wnid>/*.JPEG`` dataset (2 classes, 4 + 2 images each)."""
    return write_imagenet_folder(tmp_path / 'imagenet')


@pytest.fixture(scope='session')
def shared_imagenet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same dataset written once per session; treat it as read-only."""
    return write_imagenet_folder(tmp_path_factory.mktemp('data') / 'imagenet')
