# MAE baseline of cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py: ViT-L/16, L(0; 0.75),
# ImageNet-1K, 300 epochs, the same recipe base (batch 1024, 30 warm-up epochs, base lr 1.5e-4:
# see the recipe for the appendix's literal 5e-6). Paper Fig. 8 (left, MAE point).
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py 8
# Same total batch on fewer GPUs: 2 GPUs x 128 x 4 accumulation = 1024 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py 2 --keep-batch
_base_ = '../../_base_/recipes/vit-large-p16_8xb128-amp-coslr-300e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.75]))
