# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), ImageNet-1K, 300 epochs (paper Sec. 3.4, App. A.1).
# 8 GPUs x 512 = 4096 total batch, AdamW lr 1.5e-4 x 4096/256, 40 warm-up epochs then cosine, AMP:
# the recipe base, shared with the MAE baseline mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py.
#   tools/dist_train.sh configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 8
# (configs/selfsup/cmae_vitb_300e.py is a redirect to this file: same config, same work dir.)
# Same total batch on fewer GPUs: 2 GPUs x 512 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 2 --keep-batch
_base_ = '../../_base_/recipes/vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
model = dict(backbone=dict(mask_layers=[0, 10], mask_ratios=[0.75, 0.1]))
