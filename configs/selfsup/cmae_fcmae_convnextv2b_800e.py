# Alias of fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py (the name the README uses).
_base_ = './fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
