# Redirect to the canonical config cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py (same config and work dir).
_base_ = './cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
