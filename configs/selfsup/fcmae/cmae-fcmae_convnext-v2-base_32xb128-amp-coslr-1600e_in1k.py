# Two-shot FCMAE, ConvNeXt V2-B, L(0,3; 0.6,0.1), at the official full pre-training length:
# facebookresearch/ConvNeXt-V2 TRAINING.md pre-trains ConvNeXt V2-B for 1,600 epochs; 800 epochs
# (the sibling ..._800e_in1k.py) is the ConvNeXt V2 paper's ablation length. The Conditional MAE
# paper does not state Tab. 6's length. Recipe base shared with the one-shot baseline
# fcmae_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py: total batch 4096 = 32 GPUs x 128.
#   tools/dist_train.sh configs/selfsup/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py 32
_base_ = '../../_base_/recipes/convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
