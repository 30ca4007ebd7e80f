"""Every classification config: a real CMAE pre-training checkpoint loads into its encoder, one
training iteration and one evaluation run through the real Runner on a tiny ImageNet-format set."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import cmae_mm  # noqa: F401
from cmae_mm.compat import disable_amp_on_cpu
from helpers import (REPO, TINY_IMG, TINY_PATCH, shrink_pretrain_cfg, vit_depth,
                     write_imagenet_annfile_layout, write_stanford_dogs, write_tiny_imagenet)

CONFIGS = sorted((REPO / 'configs' / 'classification').rglob('*.py'))
PRETRAIN = {12: 'configs/selfsup/cmae_vitb_300e.py', 24: 'configs/selfsup/cmae_vitl_300e.py'}


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return write_imagenet_annfile_layout(tmp_path_factory.mktemp('imagenet'), num_images=4)


@pytest.fixture(scope='module')
def datasets(tmp_path_factory, tiny_data):
    """Dataset type -> (data_root, dataset overrides) of a tiny copy in the official layout."""
    dogs = write_stanford_dogs(tmp_path_factory.mktemp('dogs'))
    tiny = write_tiny_imagenet(tmp_path_factory.mktemp('tiny'))
    imagenet = (tiny_data, dict(split='train'))
    return dict(ImageNet=imagenet, ImageNet100=imagenet,
                StanfordDogs=(dogs, dict(num_classes=None)),  # 3 breed folders, not 120
                TinyImageNet=(tiny, dict()))


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, tiny_data):
    """depth -> a checkpoint written by a real (shrunk) Conditional MAE pre-training run."""
    ckpts = {}
    for depth, config in PRETRAIN.items():
        work = tmp_path_factory.mktemp(f'pretrain{depth}')
        cfg = shrink_pretrain_cfg(Config.fromfile(str(REPO / config)), tiny_data, work, batch_size=4)
        Runner.from_cfg(cfg).train()
        ckpts[depth] = work / 'epoch_1.pth'
    return ckpts


def shrink_cls_cfg(cfg: Config, datasets: dict, work_dir: Path, checkpoint: Path) -> Config:
    """CPU-sized encoder (same depth as the config's arch), batch 2, one epoch, tiny data.

    Inputs are 64x64 (the pre-training size here), except configs that fine-tune at a lower
    resolution than they pre-train (Tiny ImageNet): 32x32, so position embeddings are interpolated.
    """
    backbone = cfg.model.backbone
    backbone.arch = dict(embed_dims=32, num_layers=vit_depth(backbone.arch), num_heads=2,
                         feedforward_channels=64)
    size = TINY_IMG if backbone.get('img_size', 224) == 224 else TINY_IMG // 2
    backbone.update(img_size=size, patch_size=TINY_PATCH)
    backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.model.head.in_channels = 32
    if cfg.model.get('neck'):
        cfg.model.neck.input_features = 32
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
        data_root, overrides = datasets[cfg[loader].dataset.type]
        cfg[loader].dataset.update(data_root=str(data_root), **overrides)
        for t in cfg[loader].dataset.pipeline:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = size
            elif t['type'] == 'ResizeEdge':
                t['scale'] = size + 8
            elif t['type'] == 'CenterCrop':
                t['crop_size'] = size
    cfg.train_dataloader.drop_last = False
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    disable_amp_on_cpu(cfg)
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_loads_pretrained_trains_and_evaluates(path, datasets, pretrained, tmp_path):
    cfg = Config.fromfile(str(path))
    depth = vit_depth(cfg.model.backbone.arch)
    ckpt = pretrained[depth]
    cfg = shrink_cls_cfg(cfg, datasets, tmp_path, ckpt)
    pre_state = torch.load(ckpt)['state_dict']
    pre_backbone = {k[len('backbone.'):]: v for k, v in pre_state.items() if k.startswith('backbone.')}

    # The Pretrained init loads every encoder weight; the only key differences are MAE's design:
    # fine-tuning pools patch tokens with a new norm (ln2) instead of the pre-training final norm.
    model = MODELS.build(cfg.model)
    model.init_weights()
    own = model.backbone.state_dict()
    missing, unexpected = set(own) - set(pre_backbone), set(pre_backbone) - set(own)
    if cfg.model.backbone.out_type == 'avg_featmap':
        assert (missing, unexpected) == ({'ln2.weight', 'ln2.bias'}, {'ln1.weight', 'ln1.bias'})
    else:
        assert (missing, unexpected) == (set(), set())
    grid = cfg.model.backbone.img_size // TINY_PATCH
    assert own['pos_embed'].shape == (1, 1 + grid * grid, 32)  # interpolated when the size differs
    for key in set(own) & set(pre_backbone) - ({'pos_embed'} if grid != 8 else set()):
        assert torch.equal(own[key], pre_backbone[key]), key

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2  # 4 images, batch 2
    metrics = runner.val_loop.run()
    assert 'accuracy/top1' in metrics
    if cfg.model.backbone.get('frozen_stages', 0) == depth:  # linear probe: encoder unchanged
        frozen = runner.model.backbone.state_dict()
        assert all(torch.equal(frozen[k], pre_backbone[k]) for k in pre_backbone)


def test_layer_decay_is_applied():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(str(REPO / 'configs/classification/imagenet1k/cmae_vit-large-p16_ft-100e_in1k.py'))
    cfg.model.backbone.arch = dict(embed_dims=32, num_layers=24, num_heads=2, feedforward_channels=64)
    cfg.model.backbone.update(img_size=TINY_IMG, patch_size=TINY_PATCH, init_cfg=None)
    cfg.model.head.in_channels = 32
    disable_amp_on_cpu(cfg)
    model = MODELS.build(cfg.model)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # as the Runner sets it
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    lr = {p: g['lr'] for g in optim.optimizer.param_groups for p in g['params']}
    base = cfg.optim_wrapper.optimizer.lr
    named = dict(model.named_parameters())
    # depth 24 -> 26 layer ids; block i has id i + 1: lr = base * 0.75 ** (26 - 1 - (i + 1))
    for i in (0, 11, 23):
        expected = base * 0.75**(26 - 1 - (i + 1))
        assert lr[named[f'backbone.layers.{i}.attn.qkv.weight']] == pytest.approx(expected)
    assert lr[named['head.fc.weight']] == pytest.approx(base)


@pytest.mark.parametrize('kind,transform', [('occlusion', 'PatchOcclusion'), ('shuffle', 'PatchShuffle')])
def test_tools_test_perturb(kind, transform, datasets, pretrained, tmp_path):
    """tools/test.py --perturb evaluates a fine-tuned checkpoint with the perturbation in its test
    pipeline (robustness, paper Tab. 9)."""
    import importlib.util
    import json

    path = REPO / 'configs/classification/imagenet100/cmae_vit-small-p16_ft-100e_in100.py'
    cfg = shrink_cls_cfg(Config.fromfile(str(path)), datasets, tmp_path / 'ft', pretrained[12])
    Runner.from_cfg(cfg).train()
    cfg.dump(str(tmp_path / 'tiny_ft.py'))
    spec = importlib.util.spec_from_file_location('test_tool', REPO / 'tools' / 'test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([str(tmp_path / 'tiny_ft.py'), str(tmp_path / 'ft' / 'epoch_1.pth'), '--work-dir',
               str(tmp_path / 'test'), '--perturb', kind])
    dumped = (tmp_path / 'test' / 'tiny_ft.py').read_text()
    assert f"type='{transform}'" in dumped and 'patch_size=8' in dumped
    (metrics_file, ) = (tmp_path / 'test').glob('*/*.json')
    assert 'accuracy/top1' in json.loads(metrics_file.read_text().splitlines()[-1])
