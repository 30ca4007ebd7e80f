# cmae_vit-small-p16_ft-100e_in100 with base lr 1e-4 (the paper's lr search).
_base_ = './cmae_vit-small-p16_ft-100e_in100.py'
optim_wrapper = dict(optimizer=dict(lr=1e-4 * 256 / 256))
