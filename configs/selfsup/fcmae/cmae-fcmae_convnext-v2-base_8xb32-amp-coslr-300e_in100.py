# Two-shot FCMAE, ConvNeXt V2-B, L(0,3; 0.6,0.1) on ImageNet-100 at the suite's study schedule:
# total batch 256 (8 GPUs x 32), 300 epochs, 40 warm-up, AdamW base lr 1.5e-4 x 256/256 (the recipe
# base, shared with the one-shot baseline fcmae_convnext-v2-base_8xb32-amp-coslr-300e_in100.py).
_base_ = '../../_base_/recipes/convnext-v2-base_8xb32-amp-coslr-300e_in100.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
