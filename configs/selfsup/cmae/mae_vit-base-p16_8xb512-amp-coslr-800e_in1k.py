# MAE baseline of cmae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py: ViT-B/16, L(0; 0.75),
# ImageNet-1K, 800 epochs, the same recipe base (base lr 1.5e-4: see the recipe for the
# appendix's literal 1e-5). Paper Fig. 8.
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py 8
# Same total batch on fewer GPUs: 2 GPUs x 512 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py 2 --keep-batch
_base_ = '../../_base_/recipes/vit-base-p16_8xb512-amp-coslr-800e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.75]))
