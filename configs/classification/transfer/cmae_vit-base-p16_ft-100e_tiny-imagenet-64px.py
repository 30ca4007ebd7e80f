# Transfer a ViT-B/16 pre-trained with Conditional MAE to Tiny ImageNet at 64x64 (paper Tab. 5,
# App. A.1): 100 epochs, total batch 512 (8 GPUs x 64), AdamW lr 1.5e-3 x 512/256, weight decay
# 0.05, layer decay 0.65. The patch size stays 16 (a 4x4 grid); the pre-trained 14x14 position
# embeddings are interpolated (bicubic) to 4x4 when the checkpoint is loaded.
# Data: the official tiny-imagenet-200 folder under data/tiny-imagenet-200.
_base_ = '../../_base_/classification/mae_finetune_100e.py'
data_root = 'data/tiny-imagenet-200/'
data_preprocessor = dict(num_classes=200)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]  # native 64x64
train_dataloader = dict(batch_size=64, dataset=dict(
    _delete_=True, type='TinyImageNet', data_root=data_root, split='train',
    pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(
    _delete_=True, type='TinyImageNet', data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    backbone=dict(arch='b', img_size=64, drop_path_rate=0.1,
                  init_cfg=dict(checkpoint='work_dirs/cmae_vitb_300e/epoch_300.pth')),
    head=dict(num_classes=200, in_channels=768))
optim_wrapper = dict(optimizer=dict(lr=1.5e-3 * 512 / 256))
auto_scale_lr = dict(base_batch_size=512)
