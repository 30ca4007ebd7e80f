"""Every detection (mmdet) and segmentation (mmseg) config: a real CMAE pre-training checkpoint loads
strictly into its encoder, one training iteration and one evaluation run through the real Runner on
a tiny COCO / ADE20K copy in the official layout, and layer-wise lr decay reaches every parameter."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cmae_mm.components  # noqa: F401
from cmae_mm.engine.checkpoint import CheckpointMismatchError
from cmae_mm.engine.cpu_compat import disable_amp_on_cpu, replace_syncbn_on_cpu
from cmae_mm.engine.runner import register_scope
from helpers import (REPO, TINY_IMG, TINY_PATCH, load_runner_checkpoint, output_of, run_logs, run_tool, vit_depth,
                     write_ade20k, write_coco)

DET_CONFIGS = sorted((REPO / 'configs' / 'mmdet').glob('*.py'))
SEG_CONFIGS = sorted((REPO / 'configs' / 'mmseg').glob('*.py'))
DIM = 32  # token width of the shrunk encoders (as the pre-training checkpoints of conftest.py)


@pytest.fixture(autouse=True)
def restore_default_scope():
    """The Runners here make mmdet / mmseg mmengine's current default scope, and it is global: the
    tests that follow build mmpretrain models, so the scope instances are restored afterwards."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def coco(tmp_path_factory) -> Path:
    return write_coco(tmp_path_factory.mktemp('coco'))


@pytest.fixture(scope='module')
def ade(tmp_path_factory) -> Path:
    return write_ade20k(tmp_path_factory.mktemp('ade'))


def scale_pairs(value, factor: float):
    """Scale every number of an (h, w) pair or a list of pairs."""
    if isinstance(value[0], (list, tuple)):
        return [scale_pairs(v, factor) for v in value]
    return tuple(max(1, int(v * factor)) for v in value)


def shrink_encoder(cfg: Config, checkpoint: Path, scale: float) -> None:
    """32-d encoder with 8x8 patches, same depth and out_indices; input sizes times ``scale``."""
    backbone = cfg.model.backbone
    backbone.arch = dict(embed_dims=DIM, num_layers=vit_depth(backbone.arch), num_heads=2,
                         feedforward_channels=2 * DIM)
    size = TINY_IMG if backbone.img_size == 224 else int(backbone.img_size * scale)
    backbone.update(img_size=size, patch_size=TINY_PATCH)
    backbone.init_cfg.checkpoint = str(checkpoint)


def shrink_runtime(cfg: Config, work_dir: Path) -> Config:
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    replace_syncbn_on_cpu(cfg)
    disable_amp_on_cpu(cfg)
    register_scope(cfg)
    return cfg


def shrink_det_cfg(cfg: Config, coco: Path, work_dir: Path, checkpoint: Path) -> Config:
    """Tiny encoder and pyramid, images of about 130x80 (fewer proposals and detections), the tiny
    COCO copy, 1 epoch of 1 iter."""
    shrink_encoder(cfg, checkpoint, scale=0.1)
    pyramid, fpn = cfg.model.neck
    pyramid.embed_dim, fpn.in_channels = DIM, [DIM] * 4
    cfg.model.test_cfg.rcnn.score_thr = 0.  # an untrained head: keep every detection for the metric
    # proposals and detections scaled down with the images: the RoI heads of an 80-px image run on
    # 100 proposals, not 1,000, and at most 20 detections per image are pasted and evaluated
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.test_cfg.rpn.update(nms_pre=100, max_per_img=100)
    cfg.model.test_cfg.rcnn.max_per_img = 20
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(coco) + '/'
        for t in cfg[loader].dataset.pipeline:
            if t['type'] in ('Resize', 'RandomResize'):
                t['scale'] = scale_pairs(t['scale'], 0.1)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = str(coco / 'annotations' / 'instances_val2017.json')
    cfg.train_cfg.max_epochs = 1
    return shrink_runtime(cfg, work_dir)


def shrink_seg_cfg(cfg: Config, ade: Path, work_dir: Path, checkpoint: Path) -> Config:
    """Tiny encoder, neck and heads, 128x128 crops (16x16 patches of 8: the real run's grid is
    32x32, the pre-training's 8x8, so position embeddings are interpolated), 1 iteration."""
    shrink_encoder(cfg, checkpoint, scale=0.25)
    crop = (cfg.model.backbone.img_size, ) * 2
    cfg.model.neck.embed_dim = DIM
    cfg.model.decode_head.update(in_channels=[DIM] * 4, channels=DIM)
    cfg.model.auxiliary_head.update(in_channels=DIM, channels=DIM // 2)
    cfg.model.data_preprocessor.size = crop
    cfg.model.test_cfg.update(crop_size=crop, stride=scale_pairs(cfg.model.test_cfg.stride, 0.25))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(ade)
        for t in cfg[loader].dataset.pipeline:
            if t['type'] in ('Resize', 'RandomResize'):
                t['scale'] = scale_pairs(t['scale'], 0.25)
            elif t['type'] == 'RandomCrop':
                t['crop_size'] = crop
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=1)
    return shrink_runtime(cfg, work_dir)


def assert_encoder_loaded(model, checkpoint: Path) -> None:
    """Every encoder weight equals the checkpoint's (pos_embed: interpolated), and the only key
    difference is the unused pre-training final norm (ln1)."""
    pre = {k[len('backbone.'):]: v for k, v in load_runner_checkpoint(checkpoint)['state_dict'].items()
           if k.startswith('backbone.')}
    own = model.backbone.state_dict()
    assert set(own) - set(pre) == set()
    assert set(pre) - set(own) == {'ln1.weight', 'ln1.bias'}
    for key in set(own) - {'pos_embed', 'ln1.weight', 'ln1.bias'}:
        assert torch.equal(own[key], pre[key]), key
    grid = model.backbone.patch_resolution
    assert own['pos_embed'].shape == (1, 1 + grid[0] * grid[1], DIM)


def run(cfg: Config, checkpoint: Path) -> dict:
    """Train one iteration (loss finite), then evaluate; returns the validation metrics."""
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    assert_encoder_loaded(runner.model, checkpoint)
    runner.train()
    assert runner.iter == 1
    return runner.val_loop.run()


@pytest.mark.parametrize('path', DET_CONFIGS, ids=lambda p: p.name)
def test_det_config_loads_pretrained_trains_and_evaluates(path, coco, pretrained, tmp_path):
    cfg = Config.fromfile(str(path))
    ckpt = pretrained[vit_depth(cfg.model.backbone.arch)]
    metrics = run(shrink_det_cfg(cfg, coco, tmp_path, ckpt), ckpt)
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=lambda p: p.name)
def test_seg_config_loads_pretrained_trains_and_evaluates(path, ade, pretrained, tmp_path):
    cfg = Config.fromfile(str(path))
    ckpt = pretrained[vit_depth(cfg.model.backbone.arch)]
    metrics = run(shrink_seg_cfg(cfg, ade, tmp_path, ckpt), ckpt)
    assert 'mIoU' in metrics


def test_tools_train_runs_a_detection_config(coco, pretrained, tmp_path):
    """The documented entry point, in a fresh process: tools/train.py picks mmdet from the config's
    default_scope and resolves the cross-library types (mmpretrain.TransferViT,
    mmseg.Feature2Pyramid) by itself."""
    path = REPO / 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'
    cfg = shrink_det_cfg(Config.fromfile(str(path)), coco, tmp_path / 'work', pretrained[12])
    cfg.dump(str(tmp_path / 'tiny_mask_rcnn.py'))
    result = run_tool(['tools/train.py', tmp_path / 'tiny_mask_rcnn.py'], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-3000:]
    log = run_logs(tmp_path / 'work')
    assert "TransferViT: loaded 148 tensors" in log and "unused by design: ['ln1.bias', 'ln1.weight']" in log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


@pytest.mark.parametrize('path,decay', [
    ('mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py', 0.75),
    ('mmdet/cmae_vit-large-p16_mask-rcnn_fpn_1x_coco.py', 0.8),
    ('mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_lr5e-4.py', 0.65),
])
def test_layer_decay_reaches_every_parameter(path, decay):
    """lr = base x decay^(L + 1 - d) with d = 0 for the patch embedding / tokens, i + 1 for block i;
    the neck and heads get the base lr; norms, biases and tokens get no weight decay."""
    from mmengine.registry import MODELS

    cfg = Config.fromfile(str(REPO / 'configs' / path))
    cfg.model.backbone.init_cfg = None
    disable_amp_on_cpu(cfg)
    replace_syncbn_on_cpu(cfg)
    scope = register_scope(cfg)
    with DefaultScope.overwrite_default_scope(scope):  # as the Runner sets it
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g for g in optim.optimizer.param_groups for p in g['params']}
    named = dict(model.named_parameters())
    assert len(groups) == len(named)  # every parameter is in a group
    base, wd = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    depth = model.backbone.num_layers
    lr = {name: groups[id(p)]['lr'] for name, p in named.items()}
    assert lr['backbone.patch_embed.projection.weight'] == pytest.approx(base * decay**(depth + 1))
    assert lr['backbone.pos_embed'] == pytest.approx(base * decay**(depth + 1))
    for i in (0, depth // 2, depth - 1):
        assert lr[f'backbone.layers.{i}.attn.qkv.weight'] == pytest.approx(base * decay**(depth - i))
    outside = [n for n in named if not n.startswith('backbone.')]
    assert outside and all(lr[n] == pytest.approx(base) for n in outside)
    weight_decay = {name: groups[id(p)]['weight_decay'] for name, p in named.items()}
    for name in ('backbone.pos_embed', 'backbone.cls_token', 'backbone.layers.0.ln1.weight',
                 'backbone.layers.0.attn.qkv.bias'):
        assert weight_decay[name] == 0, name
    assert weight_decay['backbone.layers.0.attn.qkv.weight'] == wd


def test_dense_encoder_rejects_a_checkpoint_of_another_depth(pretrained):
    """Loading is strict: a ViT-L (24-block) checkpoint into the ViT-B detector names the keys."""
    from mmengine.registry import MODELS

    cfg = Config.fromfile(str(REPO / 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'))
    backbone = cfg.model.backbone
    shrink_encoder(cfg, pretrained[24], scale=0.1)
    backbone = MODELS.build(backbone)
    with pytest.raises(CheckpointMismatchError,
                       match=r"does not fit TransferViT: missing keys \[\], unexpected keys "
                             r"\['layers.12.attn.proj.bias'"):
        backbone.init_weights()


def test_missing_pretraining_checkpoint_says_how_to_set_it(tmp_path, monkeypatch):
    from mmengine.registry import MODELS

    monkeypatch.chdir(tmp_path)  # no work_dirs/ here
    cfg = Config.fromfile(str(REPO / 'configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'))
    # default path: the canonical 300-epoch pre-training config's work dir
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(FileNotFoundError, match=r"not found: 'work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-"
                                                r"300e_in1k/epoch_300.pth'; "
                                                r"point the config at yours with --cfg-options "
                                                r"model.backbone.init_cfg.checkpoint=<path>"):
        backbone.init_weights()


@pytest.mark.parametrize('path', [
    'mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py',
    'mmdet/fashion_mnist_scenes/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py',
])
def test_roi_heads_pool_the_pyramid_at_their_boxes(path):
    """The RoI features are the pyramid's values inside each box (torchvision's ``roi_align`` on
    the level mmdet assigns). mmcv's ``RoIAlign`` reads NCHW memory whatever the tensor's strides
    (open-mmlab/mmcv#2203); the ViT's token maps were a channels-last view, which the pyramid's
    convolutions propagate, so every RoI pooled scrambled features and the detector's RoI heads
    never learnt (the RPN, convolutions only, did)."""
    from mmengine.registry import MODELS
    from torchvision.ops import roi_align

    cfg = Config.fromfile(str(REPO / 'configs' / path))
    backbone = cfg.model.backbone
    if backbone.img_size == 224:  # the ViT-B detector: its tiny encoder, pyramid and input
        shrink_encoder(cfg, Path('unused.pth'), scale=0.1)
        cfg.model.neck[0].embed_dim, cfg.model.neck[1].in_channels = DIM, [DIM] * 4
    backbone.init_cfg = None
    replace_syncbn_on_cpu(cfg)
    scope = register_scope(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    size = backbone.img_size
    torch.manual_seed(0)
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(2, backbone.get('in_channels', 3), size, size))
        extractor = model.roi_head.bbox_roi_extractor
        # small and large boxes in both images
        rois = torch.tensor([[0, 1, 2, 0.3 * size, 0.4 * size], [1, 0.2 * size, 0.1 * size, size - 1, size - 2],
                             [1, 0.5 * size, 0.5 * size, 0.8 * size, 0.7 * size], [0, 0, 0, size, size]])
        pooled = extractor(feats[:extractor.num_inputs], rois)
        levels = extractor.map_roi_levels(rois, extractor.num_inputs)
    assert all(f.is_contiguous() for f in feats)
    layer = extractor.roi_layers[0]
    for roi, level, got in zip(rois, levels, pooled):
        want = roi_align(feats[level], roi[None], layer.output_size,
                         spatial_scale=1 / extractor.featmap_strides[level],
                         sampling_ratio=layer.sampling_ratio, aligned=layer.aligned)
        torch.testing.assert_close(got[None], want)
