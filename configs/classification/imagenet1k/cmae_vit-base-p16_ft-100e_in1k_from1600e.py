# cmae_vit-base-p16_ft-100e_in1k for the 1600-epoch pre-training (paper Fig. 8 right, App. A.1:
# base lr 5e-4, layer decay 0.65, weight decay 0.05, batch 1024, 5 warm-up epochs, "we search from
# two drop path 0.1 and 0.12"): drop path 0.12 here, 0.1 in ..._from1600e_dp0.1.py.
# MAE point: --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth
_base_ = './cmae_vit-base-p16_ft-100e_in1k.py'
model = dict(backbone=dict(drop_path_rate=0.12,
                           init_cfg=dict(checkpoint='work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth')))
