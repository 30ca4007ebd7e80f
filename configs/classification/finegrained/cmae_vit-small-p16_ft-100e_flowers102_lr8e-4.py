# cmae_vit-small-p16_ft-100e_flowers102 with base lr 8e-4 (the paper's second fine-grained lr).
_base_ = './cmae_vit-small-p16_ft-100e_flowers102.py'
optim_wrapper = dict(optimizer=dict(lr=8e-4 * 16 / 256))
