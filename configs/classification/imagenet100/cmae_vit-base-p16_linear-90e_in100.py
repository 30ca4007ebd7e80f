# Linear probe of a ViT-B/16 pre-trained with Conditional MAE on ImageNet-100
# (paper App. A.1): frozen encoder, CLS token, BN without affine, LARS lr 0.1 x 1024/256, 90 epochs.
_base_ = '../../_base_/classification/imagenet100_linear.py'
model = dict(
    backbone=dict(arch='b', frozen_stages=12, init_cfg=dict(checkpoint='work_dirs/cmae_vit-base-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')),
    neck=dict(input_features=768),
    head=dict(in_channels=768))
