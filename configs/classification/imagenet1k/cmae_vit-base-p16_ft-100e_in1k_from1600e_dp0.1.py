# cmae_vit-base-p16_ft-100e_in1k_from1600e with drop path 0.1 (the other value of the paper's
# drop-path search for the 1600-epoch checkpoint, App. A.1; paper Fig. 8 right).
_base_ = './cmae_vit-base-p16_ft-100e_in1k_from1600e.py'
model = dict(backbone=dict(drop_path_rate=0.1))
