"""Every classification config: a real CMAE pre-training checkpoint loads into its encoder, one
training epoch and one evaluation run through the real Runner on a tiny copy of its dataset in the
official on-disk layout."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import cmae_mm.components  # noqa: F401
from cmae_mm.engine.cpu_compat import disable_amp_on_cpu
from cmae_mm.engine.checkpoint import trusted_globals
from helpers import (REPO, TINY_IMG, TINY_PATCH, cifar_checksums, load_runner_checkpoint, output_of,
                     run_tool, vit_depth, write_cifar, write_cub, write_dtd, write_flowers102,
                     write_stanford_dogs, write_tiny_imagenet)

# The ViT family's classification configs (the SimMIM-Swin and ConvNeXt V2 fine-tuning configs,
# simmim_* and fcmae_*, are proven by test_configs_hierarchical.py).
# (the SimMIM/FCMAE configs: test_configs_hierarchical.py; the Fashion-MNIST configs, whose
# 1-channel encoder a 3-channel checkpoint cannot fill: test_fashion_mnist.py)
CONFIGS = sorted(p for p in (REPO / 'configs' / 'classification').rglob('*.py')
                 if not p.name.startswith(('simmim_', 'fcmae_')) and p.parent.name != 'fashion_mnist')


@pytest.fixture(scope='module')
def datasets(tmp_path_factory, tiny_data):
    """Dataset type -> (data_root, dataset overrides) of a tiny copy in the official layout.

    mmpretrain's CIFAR classes check the MD5 sums of the official release files; for the tiny
    copies (same format, other content) the expected sums are those of the files written here.
    """
    from mmpretrain.datasets import CIFAR10, CIFAR100

    tmp = tmp_path_factory.mktemp('datasets')
    imagenet = (tiny_data, dict(split='train'))
    out = dict(ImageNet=imagenet, ImageNet100=imagenet,
               StanfordDogs=(write_stanford_dogs(tmp), dict(num_classes=None)),  # 3 breeds, not 120
               TinyImageNet=(write_tiny_imagenet(tmp), dict()),
               Flowers102=(write_flowers102(tmp), dict()),
               CUB=(write_cub(tmp), dict()),
               DTD=(write_dtd(tmp), dict()))
    with pytest.MonkeyPatch.context() as mp:
        for num_classes, cls in ((10, CIFAR10), (100, CIFAR100)):
            root = write_cifar(tmp, num_classes, per_file=1)
            for name, value in cifar_checksums(root, cls).items():
                mp.setattr(cls, name, value)
            out[cls.__name__] = (root, dict(download=False))
        yield out


def tiny_size(img_size: int) -> int:
    """Input side for a config fine-tuning at ``img_size`` (pre-training: 224 = 14x14 patches).

    224 becomes the tiny pre-training size (64 = 8x8 patches of 8); any other size keeps the
    config's patch grid (e.g. 448 -> 224 = 28x28, 32 -> 16 = 2x2), so the position embeddings are
    interpolated as in the real run.
    """
    return TINY_IMG if img_size == 224 else img_size * TINY_PATCH // 16


def shrink_cls_cfg(cfg: Config, datasets: dict, work_dir: Path, checkpoint: Path) -> Config:
    """CPU-sized encoder (same depth as the config's arch), batch 2, one epoch, tiny data."""
    backbone = cfg.model.backbone
    backbone.arch = dict(embed_dims=32, num_layers=vit_depth(backbone.arch), num_heads=2,
                         feedforward_channels=64)
    size = tiny_size(backbone.get('img_size', 224))
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
                t['scale'] = size * 8 // 7
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
    pre_state = load_runner_checkpoint(ckpt)['state_dict']
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
    num_train = len(runner.train_dataloader.dataset)
    assert num_train >= 2 and runner.iter == math.ceil(num_train / 2)
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


def test_tools_test_perturb_reports_clean_perturbed_and_drop(datasets, pretrained, tmp_path):
    """tools/test.py --perturb occlusion shuffle (paper Tab. 9): one test run reports the clean
    top-1, each perturbed top-1 and the drop; each perturbed number equals a plain test of the
    same checkpoint with the perturbation in the test pipeline."""
    import json

    from cmae_mm.evaluation import add_perturbation

    path = REPO / 'configs/classification/transfer/cmae_vit-base-p16_ft-100e_tiny-imagenet-64px.py'
    cfg = shrink_cls_cfg(Config.fromfile(str(path)), datasets, tmp_path / 'ft', pretrained[12])
    Runner.from_cfg(cfg).train()
    ckpt = tmp_path / 'ft' / 'epoch_1.pth'
    cfg.dump(str(tmp_path / 'tiny_ft.py'))
    # as a user runs it: a fresh process that only does what the tool does (its registrations
    # included: RobustnessTestLoop and the perturbation transforms must resolve from import cmae_mm)
    result = run_tool(['tools/test.py', tmp_path / 'tiny_ft.py', ckpt, '--work-dir', tmp_path / 'test',
                       '--perturb', 'occlusion', 'shuffle', '--perturb-seed', '3'], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-4000:]
    (metrics_file, ) = (tmp_path / 'test').glob('*/*.json')
    metrics = json.loads(metrics_file.read_text().splitlines()[-1])
    clean = metrics['accuracy/top1']
    for kind in ('occlusion', 'shuffle'):
        assert metrics[f'{kind}/drop/accuracy/top1'] == pytest.approx(clean - metrics[f'{kind}/accuracy/top1'])
        # the same numbers from a plain test loop on a perturbed test pipeline (8x8 cells: the patch size)
        single = add_perturbation(cfg, kind, seed=3, patch_size=TINY_PATCH)
        single.update(load_from=str(ckpt), work_dir=str(tmp_path / kind))
        with trusted_globals():
            plain = Runner.from_cfg(single).test()['accuracy/top1']
        assert plain == pytest.approx(metrics[f'{kind}/accuracy/top1'])
    log = next((tmp_path / 'test').glob('*/*.log')).read_text()
    assert 'robustness (seed 3, 8x8 cells): clean | occlusion | shuffle' in log


@pytest.mark.parametrize('name', ['cifar10', 'cifar100'])
def test_rgb_datasets_fill_in_rgb_order(name):
    """CIFAR's pickles are RGB (no LoadImageFromFile): RandAugment's pad value and RandomErasing's
    fill follow the mean in RGB order, as the BGR pipelines follow it in BGR order."""
    cfg = Config.fromfile(str(REPO / f'configs/classification/transfer/cmae_vit-base-p16_ft-100e_{name}-32px.py'))
    steps = {t['type']: t for t in cfg.train_pipeline}
    assert 'LoadImageFromFile' not in steps and cfg.data_preprocessor.to_rgb is False
    assert steps['RandAugment']['hparams']['pad_val'] == [124, 116, 104]
    assert steps['RandomErasing']['fill_color'] == [123.675, 116.28, 103.53]
    dtd = Config.fromfile(str(REPO / 'configs/classification/transfer/cmae_vit-base-p16_ft-100e_dtd-448px.py'))
    assert {t['type']: t for t in dtd.train_pipeline}['RandomErasing']['fill_color'] == [103.53, 116.28, 123.675]
