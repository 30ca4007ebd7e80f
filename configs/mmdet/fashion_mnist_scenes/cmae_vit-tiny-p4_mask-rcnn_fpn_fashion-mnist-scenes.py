# Mask R-CNN on the Fashion-MNIST scenes (64x64 gray canvases of 1-4 garments, 10 classes; see
# cmae_mm/datasets/fashion_mnist_scenes.py) with the Fashion-MNIST pre-training's encoder: the
# suite's ViT-B Mask R-CNN recipe (../cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py: blocks 4, 6, 8, 12
# through Feature2Pyramid into FPN, AdamW with layer-wise lr decay 0.75, strict encoder loading,
# the reliability hooks) scaled to the 12-block 64-d ViT with 4x4 patches of
# configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py and to a CPU.
#
#   python tools/dataset_converters/make_fashion_mnist_scenes.py     # data/fashion_mnist_scenes
#   python tools/train.py configs/mmdet/fashion_mnist_scenes/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth
#   python tools/test.py configs/mmdet/fashion_mnist_scenes/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py \
#       work_dirs/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes/iter_5000.pth   # test split
#
# The default checkpoint is the 5-epoch MAE pre-training of the fmnist_pt5e study (seed 0); any
# checkpoint of cmae_vit-tiny-p4_fashion-mnist.py (CMAE or MAE) fits. Another data folder:
# --cfg-options {train,val,test}_dataloader.dataset.data_root=<dir>/ and
# {val,test}_evaluator.ann_file=<dir>/annotations/instances_{val,test}.json.
#
# Choices:
# - Input: the scenes are single-channel PNGs, loaded as such (LoadImageFromFile with
#   color_type='grayscale', PackDetInputs makes them (1, 64, 64)) into the encoder's own 1-channel
#   patch embedding, normalised with the pre-training's mean/std (72.94, 90.0). No channel
#   repeating anywhere: mmdet's DetDataPreprocessor cannot select a channel, and it does not need
#   to when the loader keeps the one channel (its 1-value mean/std normalise a 1-channel batch).
# - Encoder: 64x64 input = 16x16 patches of 4 px; the checkpoint's 7x7 position embeddings are
#   interpolated (bicubic) to 16x16 when it is loaded. Drop path 0.1 (the suite's Fashion-MNIST
#   fine-tuning value; 0.2 of the ViT-B recipe is for 12 epochs of COCO).
# - Pyramid: Feature2Pyramid rescales [2, 1, 0.5, 0.25] of the stride-4 token maps = strides 2,
#   4, 8, 16 (mmseg's Feature2Pyramid allows only [4, 2, 1, 0.5] or [2, 1, 0.5, 0.25]); the FPN
#   starts at the stride-4 level (start_level=1) and gives P3-P5 = strides 4, 8, 16 (16x16 ...
#   4x4 maps). The ViT-B recipe's [4, 2, 1, 0.5] of stride-16 tokens gives 1/4 ... 1/32 of the
#   input; here 1/16 ... 1/4 of a 64-px scene. The stride-2 level is computed and unused, so its
#   upsampling weights get no gradient: model_wrapper_cfg sets find_unused_parameters for DDP.
# - Anchors: garments are 5-48 px (square root of the box area; median 27, 5-95 % 14-41 px on the
#   validation split): 2 scales per octave, 3 and 4.25 x the stride, ratios 0.5 / 1 / 2, so the
#   three levels hold anchors of 12, 17, 24, 34, 48 and 68 px. RoI features: levels assigned as
#   mmdet's default (scale / stride in [14, 28) per level): finest_scale 28, i.e. every RoI under
#   56 px (all garments) pools from the stride-4 level.
# - Heads sized for a CPU (measured, interleaved, in process CPU time per training iteration of
#   8 scenes from scratch, the median of 5 iterations after 2 warm-up ones, 3 interleaved
#   batches): FPN / RPN / RoI 64 channels, 512-d box FCs, a mask head of 2 convs of 64 channels,
#   32 RoIs sampled per image (512 in mmdet, for COCO's crowded images; these hold <= 4
#   garments), 300 / 100 proposals before / after NMS in training, 1,000 / 300 and at most 20
#   detections per image in testing (the mask head runs on every detection). With the earlier
#   P2-P6, 128 channels, 4 mask convs, 64 RoIs and 1,000 / 300 proposals a step took 1.38-1.52 s
#   of CPU; with these 0.41-0.46 s (0.29x; the ViT encoder is then 40 % of the step). Over 150
#   iterations from scratch both versions' losses fell alike (RPN classification 0.66 -> 0.05 /
#   0.69 -> 0.04, mask 1.33 -> 0.68 / 1.79 -> 0.69): a sanity check, not a result.
# - Schedule: batch 8, AdamW lr 2.5e-4 (the recipe's 5e-4 at batch 16, scaled linearly), 5,000
#   iterations (4 epochs of the 10,000 training scenes) with 250 warm-up iterations and lr x0.1
#   at 70 % and 90 % (about mmdet's 1x: epochs 8 and 11 of 12). Validation (1,000 scenes,
#   CocoMetric bbox + segm) and a checkpoint every 1,250 iterations (one epoch).
# - CPU cost, measured with OMP_NUM_THREADS=1 on a 2-core machine shared with other runs, with
#   the earlier heads (above): 3.9 s per iteration of 8 scenes over the first 200 iterations at
#   load average 7-9, so about 5.5 h for the schedule; a 200-iteration run from the default
#   checkpoint (warm-up shortened to 50) reached bbox / segm mAP 0.001 / 0.000 on the validation
#   split. With the present heads a step costs 0.29x as much CPU (above): about 35 min of CPU for
#   5,000 iterations. The study (configs/study/fmnist_scenes_maskrcnn.yml) overrides the schedule
#   with the validation search's choice (docs/results/fmnist_scenes_recipe/): 1,500 iterations,
#   75 warm-up, lr 1e-3, layer decay 0.9 (validation box mAP 25.3 from the 5-epoch MAE
#   checkpoint at 0.6-1.1 s per iteration on 2 shared cores).
# - RoI pooling reads the pyramid through mmcv's RoIAlign, which needs contiguous NCHW maps
#   (open-mmlab/mmcv#2203): TransferViT returns them so (before 2026-12-07 the RoI heads of this
#   config learnt nothing: validation box mAP 0.0-0.8 %).
_base_ = ['../cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py',
           '../../_base_/models/cmae_vit-tiny-p4_fashion-mnist-scenes_encoder.py']

data_root = 'data/fashion_mnist_scenes/'
embed_dims, img_size, patch_size, in_channels = 64, 64, 4, 1
fpn_channels = 64
strides = [4, 8, 16]  # the FPN's outputs (Feature2Pyramid's stride-2 level unused)
# cmae_mm.datasets.fashion_mnist_scenes.SCENE_METAINFO (a config cannot import it);
# tests/test_configs_scenes.py checks that the two agree.
metainfo = dict(
    classes=('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
             'Bag', 'Ankle boot'),
    palette=[(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
             (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)])
num_classes = 10

model = dict(
    data_preprocessor=dict(mean=[72.94], std=[90.0], bgr_to_rgb=False, pad_size_divisor=32),
    backbone={{_base_.scenes_encoder}},  # 64-d, 12 blocks, 4x4 patches, 1 channel, 64 px
    neck=[
        dict(type='mmseg.Feature2Pyramid', embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25],
             norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=fpn_channels, start_level=1,
             num_outs=3),
    ],
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        anchor_generator=dict(scales=[3, 4.25], ratios=[0.5, 1.0, 2.0], strides=strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels, featmap_strides=strides,
                                finest_scale=28),
        bbox_head=dict(in_channels=fpn_channels, fc_out_channels=512, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_channels, featmap_strides=strides,
                                finest_scale=28),
        mask_head=dict(num_convs=2, in_channels=fpn_channels, conv_out_channels=fpn_channels,
                       num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300), rcnn=dict(max_per_img=20)))

# the Feature2Pyramid level the FPN skips (stride 2) gets no gradient
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    # the identity on 64-px scenes, but mmdet's mask post-processing needs its scale_factor
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# num_workers=0: loading eight 64-px PNGs takes milliseconds; workers would only compete with the
# model for the cores.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/training/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/validation/'), pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_test.json',
                 data_prefix=dict(img='images/test/'), test_mode=True, pipeline=test_pipeline))
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json',
                     metric=['bbox', 'segm'])
test_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_test.json',
                      metric=['bbox', 'segm'])

max_iters, warmup_iters, val_interval = 5000, 250, 1250
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(0.7 * max_iters), int(0.9 * max_iters)], gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    # validation metrics logged at their iteration (mmdet's default logs them by epoch: step 0
    # for every validation of an iteration-based run, which merged a trial's validation curve)
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=val_interval,
                    max_keep_ckpts=2, backend_args=dict(backend='atomic_local')))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
