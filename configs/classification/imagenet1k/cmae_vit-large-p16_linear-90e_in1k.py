# Linear probe of a ViT-L/16 pre-trained with Conditional MAE on ImageNet-1K
# (paper App. A.1): frozen encoder, CLS token, BN without affine, LARS lr 0.1 x 1024/256, 90 epochs.
_base_ = '../../_base_/classification/mae_linear_90e.py'
model = dict(
    backbone=dict(arch='l', frozen_stages=24, init_cfg=dict(checkpoint='work_dirs/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=dict(input_features=1024),
    head=dict(in_channels=1024))
