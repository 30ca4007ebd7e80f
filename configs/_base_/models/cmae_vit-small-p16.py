# Conditional MAE, ViT-S/16 (384-d, 12 blocks, 6 heads: mmpretrain's 'deit-small'; note that
# mmpretrain's arch 's' is a different 768-d/8-block model) + MAE's 512-d decoder.
_base_ = './cmae_vit-base-p16.py'
model = dict(backbone=dict(arch='deit-small'), neck=dict(embed_dim=384))
