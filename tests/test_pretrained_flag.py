"""``tools/train.py --pretrained CKPT``: the encoder of any downstream config, loaded strictly.

One run per task type (mmpretrain classification, mmdet, mmseg) of ``tools/train.py`` as a user
runs it, on a config shrunk by the dense / classification test helpers (tiny encoder and data,
one iteration) whose own ``init_cfg`` is None, a dict naming a missing file, or a list. The
checkpoint is written here from a tiny Conditional MAE model (pre-training layout, ``backbone.*``
keys) or converted from it by ``tools/model_converters/convert_cmae.py`` (backbone-only layout).
The run trains with lr 0, so the saved encoder is the initialised one: it must equal the
checkpoint's tensors, and the log must report the strict load.
"""
import json
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import cmae_mm.components  # noqa: F401
from cmae_mm.engine import entrypoints
from cmae_mm.engine.checkpoint import CheckpointMismatchError, read_state_dict
from cmae_mm.engine.errors import ConfigError
from cmae_mm.engine.pretrained import apply_pretrained, find_backbone
from cmae_mm.models.converters import export_encoder
from helpers import (REPO, load_tool_module, output_of, run_logs, run_tool, shrink_pretrain_cfg,
                     write_ade20k, write_coco)
from test_configs_classification import shrink_cls_cfg
from test_configs_dense import shrink_det_cfg, shrink_seg_cfg

PRETRAIN = 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
TINY_ARCH = dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64)
MISSING = 'not/the/checkpoint.pth'  # what the configs name before --pretrained replaces it


@pytest.fixture(autouse=True)
def restore_default_scope():
    """The dense helpers make mmdet / mmseg the current default scope: restore mmpretrain's."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory) -> dict:
    """A tiny CMAE pre-training checkpoint (``backbone.*``, ``neck.*``, ``head.*``) and its
    conversions by :func:`~cmae_mm.models.converters.export_encoder` (what convert_cmae.py runs):
    ``vit`` (backbone only, no prefix) and ``timm``."""
    root = tmp_path_factory.mktemp('ckpt')
    cfg = shrink_pretrain_cfg(Config.fromfile(str(REPO / PRETRAIN)), root, root)
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    pretrain = root / 'cmae_pretrain.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), pretrain)
    out = dict(pretrain=pretrain, vit=root / 'cmae_vit.pth', timm=root / 'cmae_timm.pth')
    for to in ('vit', 'timm'):
        written = export_encoder(str(pretrain), str(out[to]), to=to, arch=json.dumps(TINY_ARCH))
        assert written.dst == str(out[to]) and out[to].is_file()
    return out


def encoder_of(path: Path) -> dict:
    """The encoder tensors of a checkpoint without prefix (either layout)."""
    state = read_state_dict(str(path))
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return state


def run_with_pretrained(cfg: Config, tmp_path: Path, ckpt: Path, saved: str, *extra: str) -> str:
    """``tools/train.py CFG --pretrained CKPT`` with lr 0; checks the saved encoder; returns the log."""
    config = tmp_path / 'tiny.py'
    cfg.dump(str(config))
    result = run_tool(['tools/train.py', config, '--pretrained', ckpt, '--no-validate',
                       '--cfg-options', 'optim_wrapper.optimizer.lr=0.0', *extra],
                      cwd=tmp_path, timeout=240)
    assert result.returncode == 0, output_of(result)[-4000:]
    log = run_logs(Path(cfg.work_dir))
    loaded = re.search(rf'TransferViT: loaded \d+ tensors from {re.escape(str(ckpt))}; new by '
                       rf'design: \[.*\]; unused by design: \[.*\]', log)
    assert loaded, log[-3000:]
    print(loaded.group(0))
    assert re.search(r"init_cfg = \{'type': 'Pretrained', 'checkpoint': '" + re.escape(str(ckpt)),
                     output_of(result)), output_of(result)[-3000:]
    trained = read_state_dict(str(Path(cfg.work_dir) / saved))
    encoder = {k[len('backbone.'):]: v for k, v in trained.items() if k.startswith('backbone.')}
    source = encoder_of(ckpt)
    shared = set(encoder) & set(source)
    assert len(shared) >= 12 * 12, sorted(shared)  # every block's weights
    for key in shared:
        if encoder[key].shape == source[key].shape:  # pos_embed: interpolated to another grid
            assert torch.equal(encoder[key], source[key]), key
    assert set(source) - set(encoder) <= {'ln1.weight', 'ln1.bias'}  # unused by design
    return log


def test_classification_config(tmp_path, tiny_data, checkpoints):
    """mmpretrain ImageClassifier, init_cfg None -> the pre-training checkpoint (prefix backbone.)."""
    cfg = Config.fromfile(
        str(REPO / 'configs/classification/imagenet1k/cmae_vit-base-p16_ft-100e_in1k.py'))
    imagenet = (tiny_data, dict(split='train'))
    cfg = shrink_cls_cfg(cfg, dict(ImageNet=imagenet), tmp_path / 'work', Path(MISSING))
    cfg.model.backbone.init_cfg = None
    cfg.train_dataloader.batch_size = 4  # the 4 training images: one iteration
    log = run_with_pretrained(cfg, tmp_path, checkpoints['pretrain'], 'epoch_1.pth')
    assert "new by design: ['ln2.bias', 'ln2.weight']" in log  # the pooled feature's new norm
    assert 'Epoch(train) [1][1/1]' in log


def test_detection_config(tmp_path, checkpoints):
    """mmdet Mask R-CNN, init_cfg naming a missing file -> the converted backbone-only file
    (prefix '')."""
    coco = write_coco(tmp_path / 'data')
    cfg = Config.fromfile(str(REPO / 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'))
    cfg = shrink_det_cfg(cfg, coco, tmp_path / 'work', Path(MISSING))
    log = run_with_pretrained(cfg, tmp_path, checkpoints['vit'], 'epoch_1.pth')
    assert 'Epoch(train) [1][1/1]' in log


def test_segmentation_config(tmp_path, checkpoints):
    """mmseg UperNet, init_cfg a list -> the pre-training checkpoint (position embeddings
    interpolated from 8x8 to the 16x16 grid)."""
    ade = write_ade20k(tmp_path / 'data')
    cfg = Config.fromfile(
        str(REPO / 'configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'))
    cfg = shrink_seg_cfg(cfg, ade, tmp_path / 'work', Path(MISSING))
    cfg.model.backbone.init_cfg = [dict(type='Pretrained', checkpoint=MISSING, prefix='backbone.')]
    log = run_with_pretrained(cfg, tmp_path, checkpoints['pretrain'], 'iter_1.pth')
    assert 'Iter(train) [1/1]' in log


# ---- where the encoder is, and what is refused (in-process) ------------------------------------
def vit_cfg(init_cfg, nested: bool = False, **top) -> Config:
    backbone = dict(type='TransferViT', arch=TINY_ARCH, img_size=64, patch_size=8, init_cfg=init_cfg)
    if nested:  # a wrapper backbone holding the encoder
        backbone = dict(type='SomeWrapper', backbone=backbone, init_cfg=None)
    return Config(dict(default_scope='mmpretrain', model=dict(type='ImageClassifier',
                                                               backbone=backbone), **top))


@pytest.mark.parametrize('init_cfg', [None, dict(type='Pretrained', checkpoint=MISSING),
                                      [dict(type='Pretrained', checkpoint=MISSING),
                                       dict(type='TruncNormal', layer='Linear')]])
@pytest.mark.parametrize('nested', [False, True])
@pytest.mark.parametrize('kind, prefix', [('pretrain', 'backbone.'), ('vit', '')])
def test_init_cfg_of_any_form_becomes_the_pretrained_dict(init_cfg, nested, kind, prefix, checkpoints):
    cfg = vit_cfg(init_cfg, nested)
    path = apply_pretrained(cfg, str(checkpoints[kind]))
    assert path == ('model.backbone.backbone' if nested else 'model.backbone')
    assert find_backbone(cfg)[1].init_cfg == dict(type='Pretrained', checkpoint=str(checkpoints[kind]),
                                                  prefix=prefix)


def test_wrong_checkpoints_and_backbones_are_refused(checkpoints, tmp_path):
    with pytest.raises(CheckpointMismatchError, match=r"in timm's layout .* convert it with python "
                       r'tools/model_converters/convert_cmae.py PRETRAIN_CKPT OUT.pth'):
        apply_pretrained(vit_cfg(None), str(checkpoints['timm']))
    other = tmp_path / 'optimizer_only.pth'
    torch.save(dict(state_dict=dict(step=torch.zeros(1), exp_avg=torch.zeros(2))), other)
    with pytest.raises(CheckpointMismatchError, match=r"holds no encoder weights \(its keys start "
                       r"with \['exp_avg', 'step'\]\)"):
        apply_pretrained(vit_cfg(None), str(other))
    # a pre-training config: CMAEViT does not load an encoder strictly
    cfg = Config.fromfile(str(REPO / PRETRAIN))
    with pytest.raises(ConfigError, match='which model.backbone type CMAEViT does not do'):
        apply_pretrained(cfg, str(checkpoints['pretrain']))
    with pytest.raises(ConfigError, match='load_from replaces every weight'):
        apply_pretrained(vit_cfg(None, load_from='x.pth'), str(checkpoints['pretrain']))


def test_the_strict_load_names_keys_of_another_encoder(checkpoints):
    """A 12-block checkpoint into a 6-block encoder: CheckpointMismatchError names the keys."""
    cfg = vit_cfg(None)
    cfg.model.backbone.arch = dict(TINY_ARCH, num_layers=6)
    apply_pretrained(cfg, str(checkpoints['pretrain']))
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(CheckpointMismatchError, match=r"does not fit TransferViT: missing keys \[\], "
                                                      r"unexpected keys \['layers.10.attn.proj.bias'"):
        backbone.init_weights()


def test_missing_checkpoint_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    module = load_tool_module('tools/train.py')
    args = module.parse_args([str(REPO / 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'),
                              '--pretrained', str(tmp_path / 'nope.pth')])
    with pytest.raises(SystemExit) as exit_info:
        entrypoints.train(args)
    missing = tmp_path / 'nope.pth'
    assert exit_info.value.code == f'tools/train.py: error: --pretrained checkpoint not found: {missing}'
