# cmae_vit-large-p16_ft-100e_in1k with base lr 1.2e-3 (the paper's lr search).
_base_ = './cmae_vit-large-p16_ft-100e_in1k.py'
optim_wrapper = dict(optimizer=dict(lr=1.2e-3 * 1024 / 256))
