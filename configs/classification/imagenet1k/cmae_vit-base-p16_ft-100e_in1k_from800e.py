# cmae_vit-base-p16_ft-100e_in1k for the 800-epoch pre-training (paper Fig. 8 right, App. A.1:
# "For 800 epoch ViT-B/16 ... In fine-tuning, we use 5e-4 base learning rate, 0.65 layerwise decay,
# 0.05 weight decay. We set batch size to 1024, warmup epoch to 5, and drop path to 0.12"):
# the parent's recipe with drop path 0.12 and the 800-epoch checkpoint.
# MAE point: --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k/epoch_800.pth
_base_ = './cmae_vit-base-p16_ft-100e_in1k.py'
model = dict(backbone=dict(drop_path_rate=0.12,
                           init_cfg=dict(checkpoint='work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-800e_in1k/epoch_800.pth')))
