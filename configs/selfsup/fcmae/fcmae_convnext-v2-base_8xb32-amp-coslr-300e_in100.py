# FCMAE, ConvNeXt V2-B, L(0; 0.6) on ImageNet-100 at the suite's study schedule (the recipe base
# shared with the two-shot sibling).
_base_ = '../../_base_/recipes/convnext-v2-base_8xb32-amp-coslr-300e_in100.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
