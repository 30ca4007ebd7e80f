# SimMIM, Swin-B, L(0; 0.6): the one-shot baseline of paper Tab. 6 (83.8 top-1 after fine-tuning),
# through the suite's classes (bit-exact stock mmpretrain SimMIM: same loss and gradients), so it
# logs the same per-shot statistics as its two-shot sibling. Recipe: the shared recipe base
# (configs/_base_/recipes/swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py).
#   tools/dist_train.sh configs/selfsup/simmim/simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py 16
_base_ = '../../_base_/recipes/swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.6]))
