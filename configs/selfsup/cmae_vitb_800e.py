# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), ImageNet-1K, 800 epochs (paper Fig. 8, App. A.1).
# The appendix gives base lr 1e-5 for this run (vs 1.5e-4 at 300 epochs); it is used as written.
_base_ = './cmae_vitb_300e.py'
optim_wrapper = dict(optimizer=dict(lr=1e-5 * 4096 / 256))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=760, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=800)
