# The embedded demo (tools/demo.py, `make demo`): a 12-block, 64-d ViT with 4x4 patches pre-trained
# with L(0,10; 0.75,0.1) on scikit-learn's handwritten digits (real 8x8 scans, upsampled to 32x32),
# written to disk in mmpretrain's folder layout <data_root>/train/<class>/*.png. Runs on 2 CPU cores
# in a few minutes; the demo's fallback study configs/study/demo_digits.yml sets data_root and lengths.
_base_ = [
    '../_base_/models/cmae_vit-base-p16.py',
    '../_base_/pretrain_runtime.py',
]
img_size, patch_size = 32, 4
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=12, num_heads=4,
                  feedforward_channels=128),
        img_size=img_size, patch_size=patch_size, mask_layers=[0, 10], mask_ratios=[0.75, 0.1]),
    neck=dict(num_patches=(img_size // patch_size)**2, patch_size=patch_size, embed_dim=64,
              decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=4),
    head=dict(patch_size=patch_size))

data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.7, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='data/digits', data_prefix='train',
                 with_label=False, pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0), 'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.), 'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)}))
max_epochs = 30
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=4,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 4, by_epoch=True, begin=4,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))  # SafeCheckpointHook: pretrain_runtime
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
