# Linear probe of a ViT-S/16 pre-trained with Conditional MAE on ImageNet-100
# (paper App. A.1): frozen encoder, CLS token, BN without affine, LARS lr 0.1 x 1024/256, 90 epochs.
_base_ = '../../_base_/classification/imagenet100_linear.py'
model = dict(
    backbone=dict(arch='deit-small', frozen_stages=12, init_cfg=dict(checkpoint='work_dirs/cmae_vit-small-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')),
    neck=dict(input_features=384),
    head=dict(in_channels=384))
