# SimMIM, Swin-B, L(0; 0.6), mmpretrain's 100-epoch recipe, through the suite's classes.
_base_ = './cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
