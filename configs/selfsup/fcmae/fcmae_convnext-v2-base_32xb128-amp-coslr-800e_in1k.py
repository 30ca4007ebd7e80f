# FCMAE, ConvNeXt V2-B, L(0; 0.6): the one-shot baseline of paper Tab. 6 (80.2), through the same
# classes as the two-shot config (its eta_2 = 0 is bit-exact to this). Recipe: the shared recipe
# base (configs/_base_/recipes/convnext-v2-base_32xb128-amp-coslr-800e_in1k.py).
#   tools/dist_train.sh configs/selfsup/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py 32
# Same total batch on fewer GPUs: 8 GPUs x 128 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py 8 --keep-batch
_base_ = '../../_base_/recipes/convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
