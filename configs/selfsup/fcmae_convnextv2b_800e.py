# Alias of fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py (the name the README uses).
# Same total batch on fewer GPUs: 8 GPUs x 128 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/fcmae_convnextv2b_800e.py 8 --keep-batch
_base_ = './fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
