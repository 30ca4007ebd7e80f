# Conditional MAE, ViT-L/16 (1024-d, 24 blocks) + MAE's 512-d decoder.
_base_ = './cmae_vit-base-p16.py'
model = dict(backbone=dict(arch='l'), neck=dict(embed_dim=1024))
