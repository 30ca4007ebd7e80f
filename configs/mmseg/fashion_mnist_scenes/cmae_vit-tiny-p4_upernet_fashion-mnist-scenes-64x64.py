# UperNet on the Fashion-MNIST scenes' semantic maps (64x64 gray canvases; 11 classes: background
# + the 10 garments, reduce_zero_label=False; see cmae_mm/datasets/fashion_mnist_scenes.py) with
# the Fashion-MNIST pre-training's encoder: the suite's ViT-B UperNet recipe
# (../cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py: blocks 4, 6, 8, 12 through
# Feature2Pyramid into UPerHead + an FCN auxiliary head, AdamW with layer-wise lr decay 0.65,
# strict encoder loading, the reliability hooks) scaled to the 12-block 64-d ViT with 4x4 patches
# of configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py and to a CPU.
#
#   python tools/dataset_converters/make_fashion_mnist_scenes.py     # data/fashion_mnist_scenes
#   python tools/train.py configs/mmseg/fashion_mnist_scenes/cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth
#   python tools/test.py configs/mmseg/fashion_mnist_scenes/cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py \
#       work_dirs/cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64/iter_8000.pth   # test split
#
# The default checkpoint is the 5-epoch MAE pre-training of the fmnist_pt5e study (seed 0); any
# checkpoint of cmae_vit-tiny-p4_fashion-mnist.py (CMAE or MAE) fits. Another data folder:
# --cfg-options {train,val,test}_dataloader.dataset.data_root=<dir>.
#
# Choices:
# - Input: single-channel PNGs loaded as such (LoadImageFromFile with color_type='grayscale';
#   PackSegInputs makes them (1, H, W)) into the encoder's own 1-channel patch embedding,
#   normalised with the pre-training's mean/std (72.94, 90.0). mmseg's PhotoMetricDistortion is
#   left out: its saturation and hue steps need 3-channel BGR images.
# - Encoder: 64x64 crops = 16x16 patches of 4 px; the checkpoint's 7x7 position embeddings are
#   interpolated (bicubic) to 16x16 when it is loaded. Drop path 0.1, as the recipe.
# - Pyramid: Feature2Pyramid rescales [2, 1, 0.5, 0.25] of the stride-4 token maps = strides 2,
#   4, 8, 16 (32x32 ... 4x4 maps; the ViT-B recipe's 4-32 on 512 px); the logits (stride 2) are
#   upsampled to 64x64 as in mmseg.
# - Heads sized to the encoder as the recipe sizes them to ViT-B (UPerHead channels = embed dims:
#   64; FCN auxiliary head 32 channels, 1/3 of the width as the recipe's 256 of 768).
# - Data: ADE20K's augmentation scaled by 1/8 (short side 64 x [0.5, 2.0], 64x64 random crops
#   with cat_max_ratio 0.75, horizontal flips); the test resizes to short side 64 (the identity)
#   and predicts the whole image (no sliding window at 64 px). IoUMetric mIoU over the 11
#   classes, background included.
# - Schedule: batch 8, AdamW lr 2e-4 (the recipe's 4e-4 at batch 16, scaled linearly), 8,000
#   iterations (6.4 epochs of the 10,000 training scenes), 150 warm-up iterations then linear
#   (poly 1.0) decay, as the recipe. Validation (1,000 scenes) and a checkpoint every 2,000
#   iterations.
# - CPU cost, measured with OMP_NUM_THREADS=1 on the default set, on a 2-core machine shared with
#   other runs (load average 7-9): 0.52 s per iteration of 8 scenes over the first 300 iterations
#   (10-iteration means 0.40-0.68 s), so about 70 min for the schedule; validation of the 1,000
#   scenes 16 s. A 300-iteration run from the default checkpoint (warm-up 50, decay to 0 at 300)
#   reached mIoU 10.65 (aAcc 73.65; background IoU 90.6, the garments 0-14) on the validation
#   split.
_base_ = ['../cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py',
           '../../_base_/models/cmae_vit-tiny-p4_fashion-mnist-scenes_encoder.py']

data_root = 'data/fashion_mnist_scenes'
embed_dims, img_size, patch_size, in_channels = 64, 64, 4, 1
crop_size = (img_size, img_size)
num_classes = 11  # background + the 10 garments

data_preprocessor = dict(mean=[72.94], std=[90.0], bgr_to_rgb=False, size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone={{_base_.scenes_encoder}},  # 64-d, 12 blocks, 4x4 patches, 1 channel, 64 px
    neck=dict(embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25]),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims, num_classes=num_classes),
    auxiliary_head=dict(in_channels=embed_dims, channels=32, num_classes=num_classes),
    test_cfg=dict(_delete_=True, mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='LoadAnnotations'),  # reduce_zero_label from the dataset: False
    dict(type='RandomResize', scale=(256, img_size), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=(256, img_size), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# num_workers=0: loading eight 64-px PNGs takes milliseconds; workers would only compete with the
# model for the cores.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='FashionMNISTScenesSegDataset', data_root=data_root,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='FashionMNISTScenesSegDataset', data_root=data_root,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FashionMNISTScenesSegDataset', data_root=data_root,
                 data_prefix=dict(img_path='images/test', seg_map_path='annotations/test'),
                 pipeline=test_pipeline))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters, warmup_iters, val_interval = 8000, 150, 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters, end=max_iters,
         by_epoch=False),
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=val_interval,
                    max_keep_ckpts=2, backend_args=dict(backend='atomic_local')))
randomness = dict(seed=0)
