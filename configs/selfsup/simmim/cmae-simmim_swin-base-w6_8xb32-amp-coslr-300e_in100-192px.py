# Two-shot SimMIM, Swin-B, L(0,3; 0.6,0.1) on ImageNet-100 at the suite's study schedule: total
# batch 256 (8 GPUs x 32), 300 epochs, SimMIM's 100-epoch recipe scaled as SimMIM scales it (the
# recipe base, shared with the one-shot baseline simmim_swin-base-w6_8xb32-amp-coslr-300e_in100-192px.py).
_base_ = '../../_base_/recipes/swin-base-w6_8xb32-amp-coslr-300e_in100-192px.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
