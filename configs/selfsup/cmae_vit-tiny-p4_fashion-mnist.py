# Conditional MAE L(0,10; 0.75,0.1) on Fashion-MNIST (60,000 training images, labels unused): the
# digits demo's 12-block 64-d ViT on 28x28 grayscale inputs (in_channels=1) with 4x4 patches = 49
# tokens; shot 1 keeps 12 tokens, shot 2 removes 2 of them before block 10. A CPU-scale analogue
# of the paper's ViT pre-training; norm_pix and the length were chosen by the measurements of
# tools/analysis/fmnist_recipe_search.py (see docs/results/fmnist_recipe_search/).
#
#   python tools/dataset_converters/prepare_fashion_mnist.py        # data/fashion_mnist
#   python tools/train.py configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py
#
# One process (2 CPU cores or 1 GPU): batch 256, AdamW lr 1.5e-3 (MAE's base lr 1.5e-4 x 256/256,
# x10 for a 64-d model trained for a few thousand steps), betas (0.9, 0.95), weight decay 0.05.
_base_ = [
    '../_base_/models/cmae_vit-base-p16.py',
    '../_base_/pretrain_runtime.py',
]
img_size, patch_size, in_channels = 28, 4, 1
embed_dims = 64
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=12, num_heads=4,
                  feedforward_channels=128),
        img_size=img_size, patch_size=patch_size,
        patch_cfg=dict(in_channels=in_channels),  # MAEViT takes the channels through patch_cfg
        mask_layers=[0, 10], mask_ratios=[0.75, 0.1]),
    neck=dict(num_patches=(img_size // patch_size)**2, patch_size=patch_size,
              in_chans=in_channels, embed_dim=embed_dims, decoder_embed_dim=64, decoder_depth=2,
              decoder_num_heads=4),
    # norm_pix=False: a third of the 4x4 patches are blank (zero after per-patch normalisation),
    # and nearly blank ones turn into amplified noise, so with norm_pix the loss stays near the
    # predict-the-patch-mean baseline (loss / rec_err_trivial 0.74 after 1,400 steps, against
    # 0.21 on raw normalised pixels; docs/results/fmnist_recipe_search/).
    head=dict(patch_size=patch_size, in_channels=in_channels, norm_pix=False))

# Fashion-MNIST's pixel mean and std (0.286, 0.353 of 255) over the training images.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[72.94], std=[90.0], to_rgb=False)
# MAE's augmentation (random resized crop + horizontal flip) at 28 px on the in-memory uint8
# arrays of mmpretrain's FashionMNIST (2-D images; PackInputs makes them (1, 28, 28)).
train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.35, 1.0), backend='cv2',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='FashionMNIST', data_root='data/fashion_mnist', data_prefix='',
                 test_mode=False, download=False, pipeline=train_pipeline))

max_epochs, warmup_epochs = 20, 2
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0), 'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.), 'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=2))  # SafeCheckpointHook: pretrain_runtime
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
