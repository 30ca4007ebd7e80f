# Alias of simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py (the name the README uses).
# Same total batch on fewer GPUs: 8 GPUs x 128 x 2 accumulation = 2048 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae_simmim_swinb_800e.py 8 --keep-batch
_base_ = './simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py'
