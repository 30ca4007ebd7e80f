# Fine-tune a ViT-S/16 pre-trained with Conditional MAE on ImageNet-100 on Stanford Dogs (paper
# Tab. 2/8, App. A.1): 100 epochs, total batch 16, AdamW base lr 7e-4 (variant 8e-4 in the _lr8e-4
# file; lr = base_lr x 16/256 by MAE's scaling rule), layer decay 0.65, drop path 0.1.
# Encoder: --cfg-options model.backbone.init_cfg.checkpoint=<pre-training checkpoint>
_base_ = '../../_base_/classification/stanford_dogs_finetune.py'
model = dict(
    backbone=dict(arch='deit-small', drop_path_rate=0.1, init_cfg=dict(
        checkpoint='work_dirs/cmae_vit-small-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')),
    head=dict(in_channels=384))
optim_wrapper = dict(optimizer=dict(lr=7e-4 * 16 / 256))
