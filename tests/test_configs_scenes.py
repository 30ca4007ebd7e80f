"""The Fashion-MNIST scene configs: tiny Mask R-CNN (mmdet) and UperNet (mmseg) with the
Fashion-MNIST pre-training's 64-d ViT.

A tiny scene set is written by the generator's python API from fake idx files (8 / 3 / 3
scenes) into a folder laid out as the repository root (``data/fashion_mnist_scenes``), next to a
pre-training checkpoint at the configs' default path, written from the model of
``configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py`` (its MAE variant, as the default
checkpoint's study run). Each config then trains two iterations with ``tools/train.py`` in a
fresh process, as a user runs it, and validates: the log names the strict encoder load and the
interpolated position embeddings, CocoMetric returns bbox and segm mAP, IoUMetric mIoU, and the
saved encoder is the checkpoint's. A 32-d checkpoint fails in one line naming both shapes.
"""
import json
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmengine.config import Config

from cmae_mm.datasets.fashion_mnist_scenes import (SCENE_METAINFO, SEG_CLASSES,
                                                   make_fashion_mnist_scenes)
from helpers import (REPO, load_runner_checkpoint, output_of, run_logs, run_tool, run_tool_in_process,
                     tool_env)
from test_fashion_mnist_scenes import write_fake_fmnist

DET = 'configs/mmdet/fashion_mnist_scenes/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py'
SEG = 'configs/mmseg/fashion_mnist_scenes/cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py'
PRETRAIN = 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'
DEFAULT_CKPT = 'work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth'
COUNTS = {'train': 8, 'val': 3, 'test': 3}
# Two iterations of batch 2, validation and a checkpoint after the second.
SHORT_RUN = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'train_dataloader.batch_size=2',
             'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2']


def write_pretrain_checkpoint(path: Path, embed_dims: int = 64) -> Path:
    """A Runner-style checkpoint (``state_dict``) of the Fashion-MNIST pre-training model, MAE
    schedule (one shot, 75 %), freshly initialised; ``embed_dims`` changes the token width."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import cmae_mm.components  # noqa: F401  (registers the pre-training model)

    model_cfg = Config.fromfile(str(REPO / PRETRAIN)).model
    model_cfg.backbone.update(mask_layers=[0], mask_ratios=[0.75])
    model_cfg.backbone.arch.embed_dims = embed_dims
    model_cfg.neck.embed_dim = embed_dims
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    model.init_weights()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with ``data/fashion_mnist_scenes`` (tiny), the default pre-training
    checkpoint path and a 32-d checkpoint ``narrow.pth``: the configs run unchanged from it."""
    root = tmp_path_factory.mktemp('scenes_ws')
    source = write_fake_fmnist(root / 'fake_fashion_mnist')
    make_fashion_mnist_scenes(source, root / 'data' / 'fashion_mnist_scenes', COUNTS, seed=0,
                              log=lambda _: None)
    write_pretrain_checkpoint(root / DEFAULT_CKPT)
    write_pretrain_checkpoint(root / 'narrow.pth', embed_dims=32)
    return root


def train(workspace: Path, config: str, work: str, *options: str, in_process: bool = False):
    """``tools/train.py CONFIG`` in ``workspace``, one thread (as the configs' timings are taken;
    two threads per process on a busy 2-core machine are twice as slow); a refusal
    (``in_process``) runs in this process."""
    args = ['tools/train.py', REPO / config, '--work-dir', work, '--cfg-options', *SHORT_RUN,
            *options]
    if in_process:
        return run_tool_in_process(args, cwd=workspace)
    return run_tool(args, cwd=workspace, env=tool_env(OMP_NUM_THREADS='1'))


def metrics_of(work_dir: Path) -> Dict[str, float]:
    """The validation line of the run's scalars.json (the one without a loss)."""
    (scalars, ) = work_dir.glob('*/vis_data/scalars.json')
    lines = [json.loads(line) for line in scalars.read_text().splitlines()]
    (val, ) = [line for line in lines if 'loss' not in line]
    return val


def assert_encoder_from(checkpoint: Path, trained: Path) -> None:
    """The trained model's encoder is the pre-training's (2 warm-up steps move it < 1e-4), its
    position embeddings the 7x7 grid interpolated to 16x16."""
    pre = torch.load(checkpoint, weights_only=True)['state_dict']
    own = load_runner_checkpoint(trained)['state_dict']
    keys = [k for k in pre if k.startswith('backbone.') and not k.startswith('backbone.ln1.')]
    assert len(keys) == 148 and all(k in own for k in keys)
    for key in keys:
        if key != 'backbone.pos_embed':
            torch.testing.assert_close(own[key], pre[key], atol=1e-4, rtol=0, msg=key)
    assert pre['backbone.pos_embed'].shape == (1, 1 + 7 * 7, 64)
    assert own['backbone.pos_embed'].shape == (1, 1 + 16 * 16, 64)
    torch.testing.assert_close(own['backbone.pos_embed'][:, 0], pre['backbone.pos_embed'][:, 0],
                               atol=1e-4, rtol=0)  # the cls token's embedding is not resized


def assert_loaded(log: str) -> None:
    assert f'TransferViT: loaded 148 tensors from {DEFAULT_CKPT}; new by design: []; ' \
           "unused by design: ['ln1.bias', 'ln1.weight']" in log
    assert 'Resize the pos_embed shape from torch.Size([1, 50, 64]) to ' \
           'torch.Size([1, 257, 64])' in log


def test_configs_match_the_scenes_and_the_pretraining_encoder():
    """Classes, strides, anchors, channels and the reliability hooks, without building a model."""
    from cmae_mm.datasets.fashion_mnist_scenes import FashionMNISTScenesSegDataset

    pre = Config.fromfile(str(REPO / PRETRAIN))
    for path in (DET, SEG):
        cfg = Config.fromfile(str(REPO / path))
        backbone = cfg.model.backbone
        assert dict(backbone.arch) == dict(pre.model.backbone.arch), path
        assert (backbone.patch_size, backbone.in_channels, backbone.img_size) == (4, 1, 64)
        assert dict(backbone.init_cfg) == dict(type='Pretrained', checkpoint=DEFAULT_CKPT,
                                               prefix='backbone.')
        preprocessor = cfg.model.data_preprocessor
        assert (preprocessor.mean, preprocessor.std) == (pre.data_preprocessor.mean,
                                                         pre.data_preprocessor.std)
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            assert cfg[loader].dataset.pipeline[0] == dict(type='LoadImageFromFile',
                                                           color_type='grayscale')
        assert cfg.optim_wrapper.constructor == 'BackboneLayerDecayOptimWrapperConstructor'
        assert [h.type for h in cfg.custom_hooks] == ['RNGStateHook', 'NonFiniteLossHook',
                                                      'ResumeCheckHook']
        assert cfg.default_hooks.checkpoint.type == 'SafeCheckpointHook'
        assert cfg.train_dataloader.batch_size == 8

    det = Config.fromfile(str(REPO / DET))
    pyramid, fpn = det.model.neck
    assert pyramid.rescales == [2, 1, 0.5, 0.25] and (fpn.start_level, fpn.num_outs) == (1, 3)
    # 4-px patches: the pyramid's strides 2-16, of which the FPN keeps 4-16
    strides = [4 / r for r in pyramid.rescales][fpn.start_level:]
    assert det.model.rpn_head.anchor_generator.strides == strides
    # anchors (2 scales x 3 strides, square side) cover the garments' 12-68 px
    sizes = sorted(s * k for s in strides for k in det.model.rpn_head.anchor_generator.scales)
    assert sizes == [12, 17, 24, 34, 48, 68]
    assert det.model_wrapper_cfg.find_unused_parameters  # the unused stride-2 level
    for extractor in ('bbox_roi_extractor', 'mask_roi_extractor'):
        assert det.model.roi_head[extractor].featmap_strides == strides
    assert det.model.roi_head.bbox_head.num_classes == det.model.roi_head.mask_head.num_classes \
        == 10
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = det[loader].dataset
        assert dataset.type == 'CocoDataset'
        assert dict(dataset.metainfo) == dict(classes=SCENE_METAINFO['classes'],
                                              palette=SCENE_METAINFO['palette'])
    assert det.val_evaluator.ann_file.endswith('annotations/instances_val.json')
    assert det.test_evaluator.ann_file.endswith('annotations/instances_test.json')
    assert det.test_dataloader.dataset.ann_file == 'annotations/instances_test.json'
    assert set(det.val_evaluator.metric) == {'bbox', 'segm'}
    assert any(t.type == 'Resize' for t in det.test_dataloader.dataset.pipeline)

    seg = Config.fromfile(str(REPO / SEG))
    assert seg.model.neck.rescales == [2, 1, 0.5, 0.25]
    assert seg.model.decode_head.num_classes == seg.model.auxiliary_head.num_classes == \
        len(SEG_CLASSES) == 11
    assert seg.model.data_preprocessor.size == (64, 64)
    assert seg.train_dataloader.dataset.type == FashionMNISTScenesSegDataset.__name__
    assert seg.test_dataloader.dataset.data_prefix.img_path == 'images/test'
    assert seg.val_evaluator.iou_metrics == ['mIoU']


def test_mask_rcnn_trains_from_the_checkpoint_and_reports_bbox_and_segm_map(workspace):
    # score_thr 0: a two-step head's scores may all be under 0.05, and the metric needs results
    result = train(workspace, DET, 'work_det', 'model.test_cfg.rcnn.score_thr=0.0')
    assert result.returncode == 0, output_of(result)[-3000:]
    log = run_logs(workspace / 'work_det')
    assert_loaded(log)
    metrics = metrics_of(workspace / 'work_det')
    assert {'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'} <= \
        set(metrics), metrics
    assert all(0 <= metrics[k] <= 1 for k in ('coco/bbox_mAP', 'coco/segm_mAP'))
    assert metrics['step'] == 2  # logged at its iteration (mmdet's default: by epoch, step 0)
    assert_encoder_from(workspace / DEFAULT_CKPT, workspace / 'work_det' / 'iter_2.pth')


def test_upernet_trains_from_the_checkpoint_and_reports_miou(workspace):
    result = train(workspace, SEG, 'work_seg')
    assert result.returncode == 0, output_of(result)[-3000:]
    log = run_logs(workspace / 'work_seg')
    assert_loaded(log)
    metrics = metrics_of(workspace / 'work_seg')
    assert 0 <= metrics['mIoU'] <= 100, metrics
    assert metrics['step'] == 2
    assert 'per class results' in log and 'Ankle boot' in log and 'background' in log
    assert_encoder_from(workspace / DEFAULT_CKPT, workspace / 'work_seg' / 'iter_2.pth')


def test_a_checkpoint_of_another_width_fails_in_one_line_naming_both_shapes(workspace):
    result = train(workspace, SEG, 'work_narrow', 'model.backbone.init_cfg.checkpoint=narrow.pth',
                   in_process=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('tools/train.py: error: narrow.pth does not fit TransferViT: '
                           'cls_token has shape (1, 1, 32) in the checkpoint but (1, 1, 64) in '
                           'the model'), output_of(result)[-3000:]
    assert 'Traceback' not in result.stderr
    assert not list((workspace / 'work_narrow').glob('*.pth'))
