# Two-shot SimMIM, Swin-B, L(0,3; 0.6,0.1), mmpretrain's 100-epoch recipe (the recipe base, shared
# with the one-shot baseline simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py: batch 8 x 256,
# AdamW lr 2e-4 x 2048/512, 10 warm-up epochs then cosine to 1e-5 x 2048/512, 100 epochs, AMP).
#   tools/dist_train.sh configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py 8
# Same total batch on fewer GPUs: 2 GPUs x 256 x 4 accumulation = 2048 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py 2 --keep-batch
_base_ = '../../_base_/recipes/swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
