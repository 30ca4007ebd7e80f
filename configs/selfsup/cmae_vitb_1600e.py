# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), ImageNet-1K, 1600 epochs (paper Fig. 8, App. A.1).
# The appendix gives base lr 5e-6 for this run; it is used as written.
_base_ = './cmae_vitb_300e.py'
optim_wrapper = dict(optimizer=dict(lr=5e-6 * 4096 / 256))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1560, by_epoch=True, begin=40, end=1600,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=1600)
