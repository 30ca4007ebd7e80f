# FCMAE, ConvNeXt V2-B, L(0; 0.6): the one-shot baseline of paper Tab. 6 (80.2), through the same
# classes as the two-shot config (its eta_2 = 0 is bit-exact to this). Recipe: see the two-shot file.
_base_ = './cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
