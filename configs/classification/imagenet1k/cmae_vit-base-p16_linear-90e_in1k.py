# Linear probe of a ViT-B/16 pre-trained with Conditional MAE on ImageNet-1K
# (paper App. A.1): frozen encoder, CLS token, BN without affine, LARS lr 0.1 x 1024/256, 90 epochs.
_base_ = '../../_base_/classification/mae_linear_90e.py'
model = dict(
    backbone=dict(arch='b', frozen_stages=12, init_cfg=dict(checkpoint='work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=dict(input_features=768),
    head=dict(in_channels=768))
