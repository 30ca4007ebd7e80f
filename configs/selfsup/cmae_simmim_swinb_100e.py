# Alias of simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py (the name the README uses).
_base_ = './simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
