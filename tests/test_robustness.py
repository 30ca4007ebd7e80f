"""Patch occlusion / shuffle perturbations (paper Tab. 9) and their insertion into test pipelines."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
from PIL import Image
from torch.utils.data import DataLoader

import cmae_mm.components  # noqa: F401
from cmae_mm.datasets.transforms import IMAGENET_MEAN_RGB, PatchOcclusion, PatchShuffle
from cmae_mm.evaluation import add_perturbation
from helpers import photos

P = 16
MEAN = list(IMAGENET_MEAN_RGB)
STD = [58.395, 57.12, 57.375]


def cells(img: np.ndarray, p: int = P) -> np.ndarray:
    """(H, W, C) -> (N, p, p, C) row-major patch-grid cells."""
    h, w = img.shape[:2]
    return img.reshape(h // p, p, w // p, p, -1).swapaxes(1, 2).reshape((h // p) * (w // p), p, p, -1)


def image(h: int = 64, w: int = 96, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def run(transform, img: np.ndarray, sample_idx: int = 0) -> np.ndarray:
    out = transform(dict(img=img.copy(), sample_idx=sample_idx))['img']
    assert out.shape == img.shape and out.dtype == img.dtype
    return out


@pytest.mark.parametrize('ratio,expected', [(0.0, 0), (0.3, 7), (0.5, 12), (0.75, 18), (1.0, 24)])
def test_occlusion_fills_exactly_the_intended_patches(ratio: float, expected: int):
    img = image()  # 4 x 6 = 24 cells; 0.3 * 24 = 7.2 -> 7
    out = run(PatchOcclusion(ratio=ratio, patch_size=P), img)
    fill_bgr = np.array([104, 116, 124], dtype=np.uint8)  # IMAGENET_MEAN_RGB, rounded, reversed
    filled = np.all(cells(out) == fill_bgr, axis=(1, 2, 3))
    untouched = np.all(cells(out) == cells(img), axis=(1, 2, 3))
    assert filled.sum() == expected
    assert np.all(filled ^ untouched)  # every cell is either fully filled or bit-identical


def test_occlusion_fill_is_rgb_and_follows_channel_order():
    img = image(32, 32)
    for order, pixel in [('bgr', [30, 20, 10]), ('rgb', [10, 20, 30])]:
        out = run(PatchOcclusion(ratio=1.0, patch_size=P, fill=(10, 20, 30), channel_order=order), img)
        assert np.all(out == np.array(pixel, dtype=np.uint8))


def test_shuffle_permutes_cells():
    img = image()
    out = run(PatchShuffle(patch_size=P), img)
    assert not np.array_equal(out, img)
    key = lambda c: sorted(cell.tobytes() for cell in c)  # noqa: E731
    assert key(cells(out)) == key(cells(img))


def test_shuffle_grayscale():
    img = image()[..., 0]
    out = run(PatchShuffle(patch_size=P), img)
    key = lambda c: sorted(cell.tobytes() for cell in c)  # noqa: E731
    assert key(cells(out[..., None])) == key(cells(img[..., None])) and not np.array_equal(out, img)


@pytest.mark.parametrize('cls', [PatchOcclusion, PatchShuffle])
def test_randomness_depends_only_on_seed_and_sample_idx(cls):
    img = image()
    t = cls(patch_size=P, seed=3)
    a, a_again = run(t, img, sample_idx=5), run(cls(patch_size=P, seed=3), img, sample_idx=5)
    assert np.array_equal(a, a_again)
    assert not np.array_equal(a, run(t, img, sample_idx=6))
    assert not np.array_equal(a, run(cls(patch_size=P, seed=4), img, sample_idx=5))


@pytest.mark.parametrize('cls', [PatchOcclusion, PatchShuffle])
def test_errors(cls):
    with pytest.raises(ValueError, match=r'image size 60x64 \(HxW\) is not divisible by patch_size=16'):
        run(cls(patch_size=P), image(60, 64))
    with pytest.raises(KeyError, match=r"needs results\['sample_idx'\]"):
        cls(patch_size=P)(dict(img=image()))
    with pytest.raises(ValueError, match='patch_size must be a positive int, got 0'):
        cls(patch_size=0)


def test_occlusion_argument_errors():
    with pytest.raises(ValueError, match=r'ratio must be a number in \[0, 1\], got 1.5'):
        PatchOcclusion(ratio=1.5)
    with pytest.raises(ValueError, match=r"channel_order must be one of \('bgr', 'rgb'\), got 'BGR'"):
        PatchOcclusion(channel_order='BGR')
    with pytest.raises(ValueError, match='fill must be 3 finite numbers'):
        PatchOcclusion(fill=(0, 0))


def test_registered():
    assert isinstance(TRANSFORMS.build(dict(type='PatchOcclusion')), PatchOcclusion)
    assert isinstance(TRANSFORMS.build(dict(type='PatchShuffle')), PatchShuffle)


def make_cfg(data_root: str = 'data', to_rgb: bool = True) -> Config:
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64)), dict(type='PackInputs')]
    return Config(dict(
        model=dict(type='ImageClassifier',
                   data_preprocessor=dict(type='ClsDataPreprocessor', mean=MEAN, std=STD, to_rgb=to_rgb)),
        test_dataloader=dict(batch_size=2, num_workers=0,
                             dataset=dict(type='CustomDataset', data_root=data_root, pipeline=pipeline))))


def step_types(cfg: Config) -> list:
    return [t['type'] for t in cfg.test_dataloader.dataset.pipeline]


def test_add_perturbation_inserts_before_pack_inputs():
    cfg = make_cfg()
    out = add_perturbation(cfg, 'occlusion', seed=7, ratio=0.25, patch_size=8)
    assert step_types(out) == ['LoadImageFromFile', 'Resize', 'PatchOcclusion', 'PackInputs']
    step = out.test_dataloader.dataset.pipeline[2]
    assert dict(step) == dict(type='PatchOcclusion', fill=tuple(MEAN), channel_order='bgr', ratio=0.25,
                              patch_size=8, seed=7)
    assert 'cmae_mm.components' in out.custom_imports.imports  # registers the transforms and the loop
    assert step_types(cfg) == ['LoadImageFromFile', 'Resize', 'PackInputs']  # input untouched
    shuffled = add_perturbation(cfg, 'shuffle')
    assert dict(shuffled.test_dataloader.dataset.pipeline[2]) == dict(type='PatchShuffle', seed=0)
    # Without a channel swap the mean is already in the image's order: used as is.
    assert add_perturbation(make_cfg(to_rgb=False), 'occlusion').test_dataloader.dataset.pipeline[2][
        'channel_order'] == 'rgb'


def test_add_perturbation_errors():
    cfg = make_cfg()
    with pytest.raises(ValueError, match=r"kind 'blur'; allowed: \['occlusion', 'shuffle'\]"):
        add_perturbation(cfg, 'blur')
    cfg.test_dataloader.dataset.pipeline.pop()
    with pytest.raises(ValueError, match=r"no PackInputs step .* steps: \['LoadImageFromFile', 'Resize'\]"):
        add_perturbation(cfg, 'shuffle')
    with pytest.raises(ValueError, match='already perturbed'):
        add_perturbation(add_perturbation(make_cfg(), 'shuffle'), 'occlusion')
    with pytest.raises(ValueError, match='ratio must be a number'):
        add_perturbation(make_cfg(), 'occlusion', ratio=2)
    with pytest.raises(ValueError, match='Invalid arguments for PatchShuffle'):
        add_perturbation(make_cfg(), 'shuffle', ratio=0.5)
    with pytest.raises(ValueError, match='no test_dataloader'):
        add_perturbation(Config(dict(test_dataloader=None)), 'shuffle')


@pytest.fixture
def folder_dataset(tmp_path: Path) -> Path:
    """Class-per-folder images read by mmpretrain's CustomDataset."""
    for i, img in enumerate(photos(80)[:4]):
        (tmp_path / f'class{i % 2}').mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / f'class{i % 2}' / f'{i}.png')
    return tmp_path


def test_occluded_patches_normalise_to_zero(folder_dataset: Path):
    cfg = add_perturbation(make_cfg(str(folder_dataset)), 'occlusion', ratio=0.5)  # 4 x 4 cells of 16
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    batch = preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=False)['inputs']
    for x in batch:  # (3, 64, 64), normalised RGB
        per_cell = x.reshape(3, 4, P, 4, P).abs().amax(dim=(0, 2, 4))
        assert int((per_cell < 0.01).sum()) == 8


def test_independent_of_batching_and_workers(folder_dataset: Path):
    cfg = add_perturbation(make_cfg(str(folder_dataset)), 'shuffle')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)

    def by_index(loader) -> dict:
        return {s.sample_idx: x for batch in loader for x, s in zip(batch['inputs'], batch['data_samples'])}

    serial = by_index(DataLoader(dataset, batch_size=1, num_workers=0, collate_fn=pseudo_collate))
    parallel = by_index(DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=pseudo_collate,
                                   sampler=list(reversed(range(len(dataset))))))
    assert sorted(serial) == sorted(parallel) == list(range(len(dataset)))
    assert all(torch.equal(serial[i], parallel[i]) for i in serial)


@pytest.mark.parametrize('kinds', [['blur'], [], ['shuffle', 'shuffle']])
def test_robustness_loop_rejects_bad_perturbations(kinds):
    from types import SimpleNamespace

    from cmae_mm.evaluation import RobustnessTestLoop

    runner = SimpleNamespace(cfg=make_cfg())
    with pytest.raises(ValueError, match=r"perturbations=.*give one or more distinct kinds of "
                                         r"\['occlusion', 'shuffle'\]"):
        RobustnessTestLoop(runner, make_cfg().test_dataloader, evaluator=[], perturbations=kinds)
