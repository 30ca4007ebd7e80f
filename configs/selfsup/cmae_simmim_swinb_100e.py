# Alias of simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py (the name the README uses).
# Same total batch on fewer GPUs: 2 GPUs x 256 x 4 accumulation = 2048 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae_simmim_swinb_100e.py 2 --keep-batch
_base_ = './simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
