"""Every pre-training config builds its model and trains one iteration on CPU.

* Every config under configs/selfsup/ (ImageNet-1K runs, the 168-member ImageNet-100 study, the
  demo): model build from the config, its optimiser wrapper, one ``train_step`` on real photos
  through the config's data preprocessor, shrunk to 32-d tokens (same depth and schedule).
* One config per distinct data/schedule/runtime setting additionally runs one iteration through
  the real mmengine Runner on a tiny on-disk dataset in the real ImageNet ann-file layout.
"""
import importlib.util

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import cmae_mm  # noqa: F401
from helpers import REPO as ROOT, TINY_IMG, photos, shrink_pretrain_cfg, write_imagenet_annfile_layout



# The ViT family's pre-training configs (the SimMIM-Swin and FCMAE configs and their aliases are
# proven by tests/test_configs_hierarchical.py).
SELFSUP = sorted(p for p in (ROOT / 'configs' / 'selfsup').rglob('*.py')
                 if 'simmim' not in p.name and 'fcmae' not in p.name)
STUDY = [p for p in SELFSUP if p.parent.name == 'in100']
# Every config builds its model; one step is trained for all but the generated study members,
# of which a representative sample trains: one member per family and architecture.
# (the 1-channel Fashion-MNIST config trains on its own idx data in test_fashion_mnist.py)
TRAINED = [p for p in SELFSUP if p not in STUDY and 'fashion-mnist' not in p.name] + [
    ROOT / 'configs/selfsup/in100' / f'cmae_vit-{arch}-p16_{tag}_in100.py'
    for arch in ('small', 'base')
    for tag in ('L0_r0.75', 'L6_r0.9', 'L0-10_r0.75-0.1', 'L0_r0.775', 'L0-10-11_r0.75-0.1-0.1',
                'L0-10_r0.75-0.15_w0.75-0.15')]
RUNNER_CONFIGS = [
    'configs/selfsup/cmae_vitb_300e.py',
    'configs/selfsup/cmae_vitb_800e.py',
    'configs/selfsup/cmae_vitb_1600e.py',
    'configs/selfsup/cmae_vitl_300e.py',
    'configs/selfsup/in100/cmae_vit-small-p16_L0-10_r0.75-0.1_in100.py',
    'configs/selfsup/in100/cmae_vit-base-p16_L0-10-11_r0.75-0.1-0.1_in100.py',
]


def test_study_grid_is_complete_and_in_sync():
    names = [p.stem for p in (ROOT / 'configs' / 'selfsup' / 'in100').glob('*.py')]
    assert len(names) == 168 == len(set(names))
    spec = importlib.util.spec_from_file_location(
        'make_in100_configs', ROOT / 'tools' / 'study' / 'make_in100_configs.py')
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    stale = [p.name for p, text in generator.expected_files().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f'run tools/study/make_in100_configs.py: {stale[:5]}'


@pytest.fixture(scope='module')
def quiet_logger():
    """mmengine logs every parameter at INFO when building optimisers and initialising weights."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    yield
    logger.setLevel(level)


@pytest.fixture(scope='module')
def photo_batch():
    imgs = photos(TINY_IMG)[:2]
    # As the configs' default_collate delivers it: a stacked uint8 batch.
    return dict(inputs=torch.stack([torch.tensor(i).permute(2, 0, 1) for i in imgs]),
                data_samples=[DataSample() for _ in imgs])


@pytest.mark.parametrize('path', [p for p in SELFSUP if p not in TRAINED],
                         ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds(path, quiet_logger, tmp_path):
    cfg = shrink_pretrain_cfg(Config.fromfile(str(path)), tmp_path, tmp_path)
    model = MODELS.build(cfg.model)
    build_optim_wrapper(model, cfg.optim_wrapper)
    assert list(model.backbone.schedule.layers) == list(cfg.model.backbone.mask_layers)
    assert list(model.backbone.schedule.ratios) == list(cfg.model.backbone.mask_ratios)


@pytest.mark.parametrize('path', TRAINED, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds_and_trains_one_step(path, photo_batch, quiet_logger, tmp_path):
    cfg = shrink_pretrain_cfg(Config.fromfile(str(path)), tmp_path, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.backbone.layers[-1].ffn.layers[1].weight.detach().clone()
    log_vars = model.train_step(photo_batch, optim_wrapper)
    schedule = model.backbone.schedule
    assert list(schedule.layers) == list(cfg.model.backbone.mask_layers)
    assert torch.isfinite(log_vars['loss'])
    assert {f'rec_err_shot{s}' for s in range(1, schedule.num_shots + 1)} <= set(log_vars)
    assert not torch.equal(before, model.backbone.layers[-1].ffn.layers[1].weight)


@pytest.mark.parametrize('rel', RUNNER_CONFIGS)
def test_config_runs_one_runner_iteration(rel, tmp_path):
    data_root = write_imagenet_annfile_layout(tmp_path / 'data', splits=('train', ))
    cfg = shrink_pretrain_cfg(Config.fromfile(str(ROOT / rel)), data_root, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert (tmp_path / 'work' / 'epoch_1.pth').exists()
    scalars = (next((tmp_path / 'work').glob('*/vis_data/scalars.json'))).read_text()
    assert '"rec_err_shot1"' in scalars and '"loss"' in scalars
