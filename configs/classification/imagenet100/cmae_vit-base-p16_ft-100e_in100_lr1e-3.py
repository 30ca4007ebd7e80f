# cmae_vit-base-p16_ft-100e_in100 with base lr 1e-3 (the paper's lr search).
_base_ = './cmae_vit-base-p16_ft-100e_in100.py'
optim_wrapper = dict(optimizer=dict(lr=1e-3 * 256 / 256))
