# Alias of simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py (the name the README uses).
_base_ = './simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py'
