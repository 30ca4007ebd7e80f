# cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512 with lr 3e-4 (the paper's search).
_base_ = './cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
optim_wrapper = dict(optimizer=dict(lr=3e-4))
