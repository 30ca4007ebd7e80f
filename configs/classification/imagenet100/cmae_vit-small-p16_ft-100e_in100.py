# Fine-tune a ViT-S/16 pre-trained with Conditional MAE on ImageNet-100 (paper App. A.1):
# 100 epochs, total batch 256 (8 GPUs x 32), AdamW base lr 5e-4 (variants 1e-4, 1e-3 in the
# _lr* files), layer decay 0.65, drop path 0.1; MAE's augmentation (see the base).
# Encoder: --cfg-options model.backbone.init_cfg.checkpoint=<pre-training checkpoint>
_base_ = '../../_base_/classification/imagenet100_finetune.py'
model = dict(
    backbone=dict(arch='deit-small', drop_path_rate=0.1,
                  init_cfg=dict(checkpoint='work_dirs/cmae_vit-small-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')),
    head=dict(in_channels=384))
optim_wrapper = dict(optimizer=dict(lr=5e-4 * 256 / 256), paramwise_cfg=dict(layer_decay_rate=0.65))
