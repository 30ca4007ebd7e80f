# FCMAE, ConvNeXt V2-B, L(0; 0.6), 1,600 epochs (the official TRAINING.md length; the 800-epoch
# sibling is the ablation length): the one-shot baseline of the two-shot 1600e config, from the
# same recipe base.
#   tools/dist_train.sh configs/selfsup/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py 32
_base_ = '../../_base_/recipes/convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
