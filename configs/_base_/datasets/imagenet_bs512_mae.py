# ImageNet-1K for MAE-style pre-training: random resized crop (0.2-1.0), flip, no colour jitter
# (paper App. A.1, as MAE); 8 GPUs x 512 = 4096. The same as mmpretrain's
# _base_/datasets/imagenet_bs512_mae.py, kept here because inheriting it through `mmpretrain::`
# makes mmengine 0.10.7 tag collate_fn with `_scope_`, which its Runner then passes on to
# default_collate (TypeError: unexpected keyword argument '_scope_').
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
# LoadRandomResizedCrop decodes, crops and resizes in one step (cmae_mm.datasets.transforms):
# the same crop boxes as mmpretrain's RandomResizedCrop (its sampler, same RNG use), pixels within
# 50 dB PSNR of it, about 2x its images/s per core (tools/analysis/benchmark_pipeline.py). To use
# mmpretrain's pipeline instead, replace the first step by these two:
#   dict(type='LoadImageFromFile'),
#   dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0), backend='pillow',
#        interpolation='bicubic'),
train_pipeline = [
    dict(type='LoadRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='train', pipeline=train_pipeline))
