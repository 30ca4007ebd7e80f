# SimMIM, Swin-B, L(0; 0.6), mmpretrain's 100-epoch recipe (the recipe base shared with the two-shot
# sibling), through the suite's classes.
_base_ = '../../_base_/recipes/swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
